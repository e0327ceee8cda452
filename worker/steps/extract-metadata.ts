import { readTags } from '../metadata/read-tags.js';
import type { IngestStep } from './step.js';

/**
 * Every tag exiftool reads from the original, into `ctx.metadata` (stored in the
 * resource's record.json, not in Redis). Skipped for `no_exif` uploads. Runs for every
 * type, not only images: PDFs, videos and office files carry metadata too.
 */
export const extractMetadata: IngestStep = {
  name: 'extract-metadata',
  async run(ctx) {
    if (ctx.record.noExif) return;
    const { tags, warnings, redecoded } = await readTags(await ctx.localFile(), ctx.record.fileName, ctx.config.worker.exiftool);
    Object.assign(ctx.metadata, tags);
    ctx.warnings.push(...warnings);
    if (redecoded.length) ctx.logger.info({ tags: redecoded }, 'metadata text was not UTF-8; read as Windows-1252');
  },
};
