import { Catalog } from './catalog/catalog.js';
import type { Config } from './config.js';
import {
  createRedis,
  describeEndpoint,
  isCluster,
  probeClusterSeeds,
  toEndpoint,
  type RedisConnection,
  type RedisEndpoint,
  type RedisTarget,
} from './redis.js';
import { writeLibraryCopy } from './services/library-copy.js';
import { withExternalSources } from './external/external-store.js';
import { createObjectStore } from './storage/create-store.js';
import type { ObjectStore } from './storage/object-store.js';

/** What both processes open first: the catalog on Redis and the object store. */
export interface Core {
  config: Config;
  redis: RedisConnection;
  catalog: Catalog;
  store: ObjectStore;
  close(): Promise<void>;
}

export async function openCore(config: Config, target: RedisTarget): Promise<Core> {
  const endpoint = toEndpoint(target);
  const redis = createRedis(endpoint, 'catalog');
  try {
    await waitForRedis(redis, endpoint);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const catalog = new Catalog(redis, config.redis.prefix);
  // Originals of external libraries are read from their sources through the store (shared/external).
  const store = withExternalSources(await createObjectStore(config), config, async (id) => (await catalog.findLibrary(id))?.source);
  await catalog.migrate();
  // Its copy in storage lets `reindex` restore it with its id (idempotent overwrite).
  await writeLibraryCopy(store, await catalog.ensureDefaultLibrary());
  return {
    config,
    redis,
    catalog,
    store,
    async close() {
      redis.disconnect();
    },
  };
}

/**
 * The catalog connection fails fast by design; at start-up, wait (bounded) for Redis
 * instead. A cluster's seed nodes are asked one by one first: when none of them is a
 * healthy cluster node, start-up fails at once, naming each node and what was wrong.
 */
async function waitForRedis(redis: RedisConnection, endpoint: RedisEndpoint, timeoutMs = 30_000): Promise<void> {
  const seeds = 'clusterNodes' in endpoint ? await probeClusterSeeds(endpoint.clusterNodes) : [];
  const failed = seeds.filter((s) => s.problem !== undefined);
  const describeFailed = () => failed.map((s) => `${s.node} (${s.problem})`).join(', ');
  if (seeds.length > 0 && failed.length === seeds.length) {
    throw new Error(`No seed node in REDIS_CLUSTER_NODES is a healthy Redis Cluster node: ${describeFailed()}. Check REDIS_CLUSTER_NODES.`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (redis.status === 'ready') return;
    if (Date.now() > deadline) {
      const what = isCluster(redis) ? `Redis Cluster (${describeEndpoint(endpoint)})` : 'Redis';
      const nodes = failed.length ? ` Seed nodes that failed: ${describeFailed()}.` : '';
      throw new Error(
        `${what} did not become ready within ${timeoutMs / 1000} s (status: ${redis.status}).${nodes} Check ${'url' in endpoint ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES'}.`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
