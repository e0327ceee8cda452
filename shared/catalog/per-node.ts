import type { ChainableCommander } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { isCluster, type RedisConnection } from '../redis.js';

/** Commands per pipeline: large pre-flights are sent in slices, so no reply buffer grows without bound. */
const SLICE = 2_000;

/**
 * Runs one command per key — `add(pipeline, key, i)` queues it — and returns the
 * replies in key order. On a single Redis: pipelines. On a cluster a pipeline must
 * stay on one node, so the keys are grouped by the node serving their slot and each
 * group's pipeline runs in parallel with the others'. The first failed command's error
 * is thrown (e.g. CLUSTERDOWN during a failover → 503 upstream).
 */
export async function perKey<T = unknown>(
  redis: RedisConnection,
  keys: readonly string[],
  add: (p: ChainableCommander, key: string, i: number) => void,
): Promise<T[]> {
  const out = new Array<T>(keys.length);
  if (keys.length === 0) return out;
  const groups = new Map<string, number[]>();
  if (isCluster(redis)) {
    for (let i = 0; i < keys.length; i++) {
      const slot = calculateSlot(keys[i]!);
      // ioredis sends a pipeline only when all its slots have the same node list.
      const group = redis.slots[slot]?.join(';') ?? `slot:${slot}`;
      let list = groups.get(group);
      if (!list) groups.set(group, (list = []));
      list.push(i);
    }
  } else {
    groups.set(
      '',
      keys.map((_, i) => i),
    );
  }
  const runs: Promise<void>[] = [];
  for (const idx of groups.values()) {
    for (let start = 0; start < idx.length; start += SLICE) {
      const slice = idx.slice(start, start + SLICE);
      const p = redis.pipeline();
      for (const i of slice) add(p, keys[i]!, i);
      runs.push(
        p.exec().then((res) => {
          (res ?? []).forEach(([err, value], j) => {
            if (err) throw err;
            out[slice[j]!] = value as T;
          });
        }),
      );
    }
  }
  await Promise.all(runs);
  return out;
}

/**
 * Runs one multi-key command per group of keys — by default the keys of one slot;
 * `add(pipeline, indexes)` queues it for the keys at those indexes — and spreads its
 * reply (one value per key) back into key order. MGET of 10,000 records in 128
 * buckets is 128 commands, not 10,000.
 */
export async function perGroup<T>(
  redis: RedisConnection,
  keys: readonly string[],
  add: (p: ChainableCommander, indexes: number[]) => void,
  groupOf: (key: string) => string | number = calculateSlot,
): Promise<T[]> {
  const byGroup = new Map<string | number, number[]>();
  keys.forEach((k, i) => {
    const g = groupOf(k);
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(i);
  });
  const groups = [...byGroup.values()];
  const replies = await perKey<T[]>(
    redis,
    groups.map((g) => keys[g[0]!]!),
    (p, _key, gi) => add(p, groups[gi]!),
  );
  const out = new Array<T>(keys.length);
  groups.forEach((g, gi) => g.forEach((i, j) => (out[i] = replies[gi]![j]!)));
  return out;
}

/** Values of string keys (null when missing), any number, any slots. */
export function mgetAll(redis: RedisConnection, keys: readonly string[]): Promise<(string | null)[]> {
  return perGroup<string | null>(redis, keys, (p, idx) => p.mget(...idx.map((i) => keys[i]!)));
}
