import { DuplicateFileError } from '../../shared/errors.js';
import type { IngestStep } from './step.js';

/**
 * Claims the file's checksum in its library (atomic, see shared/catalog/checksums.ts).
 * Under `reject` a duplicate ends the job as failed with the ids it matches; under
 * `reuse` it resolves to the existing resource. Either way the duplicate's record and
 * bytes are removed — one copy stays — and a job outcome note tells clients what
 * happened. A replaced file (fileVersion > 1) keeps its resource: `reuse` then acts
 * as `allow`, since the client chose this resource for these bytes.
 */
export const dedupe: IngestStep = {
  name: 'dedupe',
  async run(ctx) {
    const { record, catalog } = ctx;
    const library = await catalog.getLibrary(record.library);
    const replacing = record.fileVersion > 1;
    const policy = replacing && library.dedupe === 'reuse' ? 'allow' : library.dedupe;
    // An external library's file is hashed by the job itself, under the checksum's claim lock (hash-source.ts).
    const sha = ctx.patch.checksum ?? record.checksum;
    const external = ctx.patch.checksum !== undefined;
    let matches: number[];
    try {
      matches = await catalog.checksums.claim(sha, record.id, record.library, policy, external);
    } finally {
      if (external) await catalog.checksums.unlockClaim(sha, record.id);
    }
    if (matches.length === 0) return;
    if (replacing) throw new DuplicateFileError(matches);
    if (policy === 'reuse') {
      await catalog.outcomes.set(record.jobId, { kind: 'reused', resourceId: record.id, resolvedTo: matches[0]! });
      ctx.finish({ removeResource: true });
      return;
    }
    const err = new DuplicateFileError(matches);
    await catalog.outcomes.set(record.jobId, { kind: 'duplicate', resourceId: record.id, matches, message: err.message });
    ctx.finish({ removeResource: true, error: err });
  },
};
