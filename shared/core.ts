import type { Redis } from 'ioredis';
import { Catalog } from './catalog/catalog.js';
import type { Config } from './config.js';
import { createRedis } from './redis.js';
import { writeLibraryCopy } from './services/library-copy.js';
import { createObjectStore } from './storage/create-store.js';
import type { ObjectStore } from './storage/object-store.js';

/** What both processes open first: the catalog on Redis and the object store. */
export interface Core {
  config: Config;
  redis: Redis;
  catalog: Catalog;
  store: ObjectStore;
  close(): Promise<void>;
}

export async function openCore(config: Config, redisUrl: string): Promise<Core> {
  const redis = createRedis(redisUrl, 'catalog');
  const catalog = new Catalog(redis, config.redisPrefix);
  const store = await createObjectStore(config);
  await waitForRedis(redis);
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

/** The catalog connection fails fast by design; at start-up, wait (bounded) for Redis instead. */
async function waitForRedis(redis: Redis, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (redis.status === 'ready') return;
    if (Date.now() > deadline) throw new Error(`Redis did not become ready within ${timeoutMs / 1000} s (status: ${redis.status}); check REDIS_URL.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
