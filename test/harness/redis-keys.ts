import { isCluster, type RedisConnection } from '../../shared/redis.js';

/** Every key matching `pattern`, on a single Redis or on every master of a cluster. */
export async function scanKeys(redis: RedisConnection, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** BullMQ's keys of a prefix (`{prefix:queue}:queue:…`, shared/catalog/keys.ts queuePrefix). */
export const QUEUE_KEY = /^\{[^}]+:(ingest|render|bulk|webhook)\}:/;

/** Drops every catalog key of `prefix` (records, indexes, libraries…), keeping BullMQ's queues. */
export async function dropCatalogKeys(redis: RedisConnection, prefix: string): Promise<number> {
  const keys = (await scanKeys(redis, `{${prefix}*`)).filter((k) => !QUEUE_KEY.test(k));
  // One DEL per key: on a cluster, keys of different slots cannot share one.
  for (const k of keys) await redis.del(k);
  return keys.length;
}
