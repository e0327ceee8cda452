import { tagWarnings } from '../../shared/metadata/tag-warnings.js';
import type { IngestStep } from './step.js';

/**
 * The fast path of a revert: the tag set stored with the resource (its record.json),
 * read once by the reprocess job, instead of a download and an exiftool run. The
 * warnings are those the tags carry, so the result equals a re-read's.
 */
export function storedMetadata(tags: Readonly<Record<string, unknown>>): IngestStep {
  return {
    name: 'stored-metadata',
    async run(ctx) {
      Object.assign(ctx.metadata, tags);
      ctx.warnings.push(...tagWarnings(tags));
    },
  };
}
