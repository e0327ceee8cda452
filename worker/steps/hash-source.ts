import { createHash } from 'node:crypto';
import { EXTERNAL_SOURCE } from '../../shared/external/scan-service.js';
import type { IngestStep } from './step.js';

/**
 * An external library's file was never hashed on the way in (a scan only lists): read
 * it once from its source and take its SHA-256 before de-duplication claims it. Other
 * resources were hashed by the API and skip this.
 */
export const hashSource: IngestStep = {
  name: 'hash-source',
  async run(ctx) {
    const { record } = ctx;
    if (record.source !== EXTERNAL_SOURCE) return;
    const hash = createHash('sha256');
    for await (const chunk of (await ctx.store.get(record.storageKey)) as AsyncIterable<Buffer>) hash.update(chunk);
    const sha = hash.digest('hex');
    ctx.patch.checksum = sha;
    // On the record and in the index before the claim, as an upload's is from its commit:
    // de-duplication compares a match's recorded checksum (a concurrent duplicate's too).
    // The dedupe step claims, then unlocks.
    await ctx.catalog.checksums.lockClaim(sha, record.id);
    await ctx.catalog.updateResource(record.id, record.fileVersion, { checksum: sha });
    await ctx.catalog.checksums.add(sha, record.id);
  },
};
