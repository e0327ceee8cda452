import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

export interface RedisServerHandle {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A private redis-server on a free port, in its own temp dir, for tests and benches. */
export async function startRedisServer(opts: { appendonly?: boolean; dir?: string } = {}): Promise<RedisServerHandle> {
  const port = await freePort();
  const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'mi-redis-')));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no'];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const spawnError = new Promise<never>((_, reject) =>
    proc.once('error', (err) =>
      reject(new Error(`could not start redis-server (${err.message}); install it: apt-get install redis-server`)),
    ),
  );
  const url = `redis://127.0.0.1:${port}`;
  await Promise.race([spawnError, waitForRedis(url)]);
  return {
    url,
    port,
    dir,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!opts.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForRedis(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch (err) {
      r.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${url}: ${(err as Error).message}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}
