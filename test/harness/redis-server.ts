import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../shared/embedded-redis.js';

export interface RedisServerHandle extends EmbeddedRedis {
  dir: string;
}

/** A private redis-server on a free port in its own temp dir (AOF off unless asked). */
export async function startRedisServer(opts: { appendonly?: boolean; dir?: string; port?: number } = {}): Promise<RedisServerHandle> {
  const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'mi-redis-')));
  const redis = await startEmbeddedRedis({ dir, appendonly: opts.appendonly ?? false, ...(opts.port ? { port: opts.port } : {}) });
  return {
    ...redis,
    dir,
    async stop() {
      await redis.stop();
      if (!opts.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
