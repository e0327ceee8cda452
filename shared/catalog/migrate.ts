import type { RedisConnection } from '../redis.js';
import type { Catalog } from './catalog.js';
import { decodeLegacyRecord } from './codec.js';
import { legacyCatalogKeys } from './keys.js';

/** Records moved per round (one pipelined read, then one write each). */
const ROUND = 500;

/**
 * Moves a catalog of the layout before issue 13 (every key under `{prefix}`, records as
 * hashes) to the bucketed one, on start-up. Each record is written in the new layout
 * first and its old keys are removed after, so a crash half-way loses nothing and the
 * next start continues; concurrent starts (API and workers) do the same idempotent
 * writes. Libraries, sequences, mappings and batches keep their keys.
 * @returns records moved
 */
export async function migrateLegacyCatalog(redis: RedisConnection, prefix: string, catalog: Catalog): Promise<number> {
  const old = legacyCatalogKeys(prefix);
  let moved = 0;
  for (;;) {
    const ids = (await redis.zrange(old.allResources, 0, ROUND - 1)).map(Number);
    if (ids.length === 0) return moved;
    const p = redis.pipeline();
    for (const id of ids) p.hgetall(old.resource(id));
    const hashes = (await p.exec()) ?? [];
    for (const [i, id] of ids.entries()) {
      const [err, h] = hashes[i]!;
      if (err) throw err;
      const rec = decodeLegacyRecord(h as Record<string, string>);
      if (rec) {
        await catalog.casResource(id, (cur) => (cur ? 'stop' : rec));
        if (rec.checksum && rec.status !== 'failed') await catalog.checksums.add(rec.checksum, id);
      }
      const m = redis.multi().del(old.resource(id)).zrem(old.allResources, String(id));
      if (rec) {
        m.zrem(old.libraryResources(rec.library), String(id));
        if (rec.checksum) m.srem(old.checksum(rec.checksum), String(id));
      }
      await m.exec();
      moved++;
    }
  }
}
