import { createHash } from 'node:crypto';
import { UnreadableFileError } from '../../shared/errors.js';
import { DIRECT_SOURCE } from '../../shared/services/direct-upload-service.js';
import type { IngestStep } from './step.js';

/**
 * A file uploaded straight to S3 (presigned multipart) never passed the API's hasher:
 * its checksum is the one the client declared. Before anything trusts it (dedupe claims
 * it), stream the stored object through SHA-256 and compare. Uploads through the API
 * were hashed on the way in and skip this. A mismatch is permanent: the bytes are not
 * the file the client meant, and a retry reads the same bytes.
 */
export const verifyChecksum: IngestStep = {
  name: 'verify-checksum',
  async run(ctx) {
    const { record } = ctx;
    if (record.source !== DIRECT_SOURCE) return;
    const hash = createHash('sha256');
    for await (const chunk of (await ctx.store.get(record.storageKey)) as AsyncIterable<Buffer>) hash.update(chunk);
    const actual = hash.digest('hex');
    if (actual !== record.checksum) {
      throw new UnreadableFileError(
        `The uploaded file has SHA-256 ${actual} but ${record.checksum} was declared; upload it again (a part may be missing or from another file).`,
      );
    }
  },
};
