import { RESOURCES_PREFIX, SHARD_COUNT } from './layout.js';
import type { ObjectStore } from './object-store.js';

const SHARD_FOLDER = /^resources\/([0-9a-f]{3})\/$/;

/**
 * The shards in `[from, end)` that hold anything, in order. Walking all 4096 costs a
 * listing each — on S3 a request of ~25–50 ms, minutes for a catalog of a few files —
 * while one delimited listing of `resources/` (a handful of pages) names the ones that exist.
 */
export async function occupiedShards(store: ObjectStore, from: number, end: number): Promise<number[]> {
  const shards: number[] = [];
  for await (const folder of store.folders(RESOURCES_PREFIX)) {
    const m = SHARD_FOLDER.exec(folder);
    const shard = m ? parseInt(m[1]!, 16) : -1;
    if (shard >= from && shard < end && shard < SHARD_COUNT) shards.push(shard);
  }
  return shards;
}
