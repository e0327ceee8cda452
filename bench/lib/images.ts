import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig, type Config } from '../../shared/config.js';
import { openCore, type Core } from '../../shared/core.js';
import { freePort, startEmbeddedRedis, type EmbeddedRedis } from '../../shared/embedded-redis.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import type { ResourceRecord } from '../../shared/model.js';
import { createRedis } from '../../shared/redis.js';
import { UploadService } from '../../shared/services/upload-service.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import { spawnTs, waitForHttp, type NodeChild } from './proc.js';

/** jemalloc, as the Dockerfile preloads it; undefined where it is not installed. */
export const JEMALLOC = [
  '/usr/local/lib/libjemalloc.so.2',
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
].find((p) => existsSync(p));

/**
 * A photo-like JPEG of `width`×`height`: smooth gradients with grain, so it decodes and
 * compresses like a camera file (flat colour would decode unrealistically fast). Made
 * once per size and kept in the temp dir: making one costs half a minute.
 */
export async function photoJpeg(width: number, height: number): Promise<Buffer> {
  const cached = path.join(os.tmpdir(), `mi-bench-photo-${width}x${height}-v1.jpg`);
  try {
    return await fs.readFile(cached);
  } catch {
    // not made yet
  }
  const small = await sharp({
    create: { width: 60, height: 40, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 120, sigma: 60 } },
  })
    .png()
    .toBuffer();
  const grain = await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 12 } },
  })
    .png({ compressionLevel: 0 })
    .toBuffer();
  const jpeg = await sharp(small)
    .resize(width, height, { kernel: 'cubic' })
    .composite([{ input: grain, blend: 'overlay' }])
    .jpeg({ quality: 90 })
    .toBuffer();
  await fs.writeFile(`${cached}.tmp`, jpeg);
  await fs.rename(`${cached}.tmp`, cached);
  return jpeg;
}

/**
 * The same picture with different bytes: a JPEG comment (COM segment) with the seed right
 * after the start-of-image marker. Decoding costs exactly the same; the SHA-256 differs,
 * so checksum de-duplication treats every copy as a new file.
 */
export function variantOf(jpeg: Buffer, seed: number): Buffer {
  const text = Buffer.from(`media-ingest bench copy ${seed}`);
  const com = Buffer.alloc(4);
  com.writeUInt16BE(0xfffe, 0);
  com.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), com, text, jpeg.subarray(2)]);
}

export interface Stack {
  redis: EmbeddedRedis;
  config: Config;
  core: Core;
  uploads: UploadService;
  worker?: NodeChild;
  api?: NodeChild;
  apiUrl?: string;
  stop(): Promise<void>;
}

export const BENCH_KEY = 'bench-key-0123456789abcdef';

/**
 * Redis, the core as the bench process's own client (to stage originals and read
 * records), and optionally a worker (bench/servers/ingest-worker.ts) and the API
 * (api/main.ts) as child processes, all on one DATA_DIR.
 */
export async function startStack(
  dir: string,
  opts: { worker?: { jemalloc: boolean }; api?: boolean; env?: Record<string, string> },
): Promise<Stack> {
  const redis = await startEmbeddedRedis({ dir: path.join(dir, 'redis'), appendonly: false });
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    DATA_DIR: path.join(dir, 'data'),
    STORAGE_DRIVER: 'fs',
    LOG_LEVEL: 'warn',
    API_KEYS: BENCH_KEY,
    HOST: '127.0.0.1',
    ...opts.env,
  };
  const config = loadConfig(env);
  const core = await openCore(config, redis.url);
  const queueRedis = createRedis(redis.url, 'queue');
  const ingestQueue = openQueue('ingest', queueRedis, config.redis.prefix);
  const uploads = new UploadService({
    catalog: core.catalog,
    store: core.store,
    ingestQueue,
    jobAttempts: 1,
    maxUploadBytes: Number.MAX_SAFE_INTEGER,
  });
  const stack: Stack = {
    redis,
    config,
    core,
    uploads,
    async stop() {
      await stack.worker?.stop();
      await stack.api?.stop();
      await ingestQueue.close();
      queueRedis.disconnect();
      await core.close();
      await redis.stop();
    },
  };
  const kill = redis.proc.pid ? [redis.proc.pid] : [];
  if (opts.worker) {
    // Without LD_PRELOAD this worker runs on glibc malloc, as worker/main.ts would not let it.
    const workerEnv = { ...env, ...(opts.worker.jemalloc && JEMALLOC ? { LD_PRELOAD: JEMALLOC } : { LD_PRELOAD: '' }) };
    stack.worker = spawnTs('bench/servers/ingest-worker.ts', { env: workerEnv, killWithBench: kill });
    await waitForOutput(stack.worker, 'worker ready');
  }
  if (opts.api) {
    const port = await freePort();
    stack.api = spawnTs('api/main.ts', { env: { ...env, PORT: String(port) }, killWithBench: kill });
    stack.apiUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${stack.apiUrl}/readyz`, stack.api);
  }
  return stack;
}

async function waitForOutput(child: NodeChild, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!child.output().includes(text)) {
    if (child.proc.exitCode !== null) throw new Error(`worker exited: ${child.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" from the worker within ${timeoutMs} ms: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stores the files as originals (hashing and sniffing, as an upload does), without creating records yet. */
export async function stageFiles(stack: Stack, files: string[], visibility: 'private' | 'public' = 'private') {
  const { createReadStream } = await import('node:fs');
  const staged: Awaited<ReturnType<UploadService['stage']>>[] = [];
  for (const f of files)
    staged.push(
      await stack.uploads.stage({ fileName: path.basename(f), declaredType: 'image/jpeg', stream: createReadStream(f) }, 1024 ** 3),
    );
  const library = await stack.core.catalog.getLibrary('default');
  const fields = new UploadFieldsBuilder();
  fields.add('visibility', visibility);
  return { commit: () => stack.uploads.commit(staged, fields.build(), library, 'bench') };
}

/** Polls the catalog until every record left `processing`; throws if one failed. */
export async function waitReady(stack: Stack, ids: number[], timeoutMs = 600_000): Promise<ResourceRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const recs = await stack.core.catalog.getResources(ids);
    const failed = recs.find((r) => r?.status === 'failed');
    if (failed) throw new Error(`resource ${failed.id} failed: ${failed.error}`);
    if (recs.every((r) => r?.status === 'ready')) return recs as ResourceRecord[];
    if (Date.now() > deadline) throw new Error('ingest did not finish in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function mkdirp(p: string): Promise<string> {
  await fs.mkdir(p, { recursive: true });
  return p;
}
