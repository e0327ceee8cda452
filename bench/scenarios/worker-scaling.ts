import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openQueue, type IngestQueue } from '../../shared/jobs/queue-table.js';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { procStats, benchTempDir, spawnTs, waitForHttp, type NodeChild } from '../lib/proc.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { envInt, median } from '../lib/params.js';

const API_KEY = 'bench-key-0123456789abcdef';
const PREFIX = 'bench';
const JEMALLOC = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libjemalloc.so.2`;

/**
 * Horizontal scaling of CPU-bound ingest: the same backlog of photos (each decoded once
 * and rendered to the four default WebP presets) drained by 1 worker process, then by
 * 2, each with WORKER_CONCURRENCY=1 and one libvips thread, so a process is one core's
 * worth of work. On a 2-core machine perfect scaling is 2.0; the target is 1.6.
 *
 * The backlog is queued first with no worker running, the queue paused while the
 * workers start (start-up is not ingest), and the clock runs from resume to the last
 * job's completion. The API is stopped before the clock starts, so it competes for no CPU.
 */
export const workerScaling: Scenario = {
  name: 'worker-scaling',
  description:
    'CPU-bound ingest (decode + 4 WebP renditions per photo) drained by 1 vs 2 worker processes (1 job and 1 libvips thread each) on the same Redis and store.',

  async run(): Promise<ScenarioResult> {
    const jobs = envInt('BENCH_SCALING_JOBS', 48);
    const rounds = envInt('BENCH_ROUNDS', 2);
    const { dir: root, remove } = await benchTempDir('mi-bench-scaling-');
    const redis = await startEmbeddedRedis({ dir: path.join(root, 'redis'), appendonly: false });
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    // Through the queue table: the same hash-tag prefix and options as the worker's.
    const queue = openQueue('ingest', client, PREFIX);
    // A 12-megapixel-class photo: noise compresses badly and decodes slowly, like a real one.
    const photo = await sharp({
      create: {
        width: 3000,
        height: 2000,
        channels: 3,
        background: { r: 0, g: 0, b: 0 },
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg({ quality: 90 })
      .toBuffer();
    const env = {
      DATA_DIR: root,
      REDIS_URL: redis.url,
      REDIS_PREFIX: PREFIX,
      API_KEYS: API_KEY,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '0',
      WORKER_CONCURRENCY: '1',
      VIPS_CONCURRENCY: '1',
      WORKER_LANES: 'ingest',
      WORKER_METRICS_PORT: '0',
      // The allocator set here, so worker/allocator.ts does not restart the worker under a
      // relay process: the bench's watchdog would take the relay's child for an orphan.
      ...(existsSync(JEMALLOC) ? { LD_PRELOAD: [process.env.LD_PRELOAD, JEMALLOC].filter(Boolean).join(':') } : { MALLOC_ARENA_MAX: '2' }),
    };
    const seconds: Record<number, number[]> = { 1: [], 2: [] };
    const cores: Record<number, number[]> = { 1: [], 2: [] };
    try {
      for (let r = 0; r < rounds; r++) {
        for (const workers of [1, 2]) {
          await queue.obliterate({ force: true });
          await backlog(env, jobs, photo, `r${r}w${workers}`, redis.proc.pid!);
          const d = await drain(env, queue, workers, jobs, redis.proc.pid!);
          seconds[workers]!.push(d.seconds);
          cores[workers]!.push(d.cores);
        }
      }
    } finally {
      await queue.close();
      client.disconnect();
      await redis.stop();
      await remove();
    }
    const one = median(seconds[1]!);
    const two = median(seconds[2]!);
    const ratios = seconds[1]!.map((s, i) => s / seconds[2]![i]!);
    return {
      parameters: {
        photos: jobs,
        'photo size': '3000×2000 JPEG',
        renditions: '4 WebP presets',
        rounds,
        'jobs per process': 1,
        'libvips threads': 1,
        cores: os.availableParallelism(),
      },
      variants: [
        {
          name: '1 worker process',
          role: 'baseline',
          figures: {
            'drain time': { value: one, unit: 's', digits: 2 },
            throughput: { value: jobs / one, unit: 'photos/s', digits: 2 },
            'CPU used by workers': { value: median(cores[1]!), unit: 'cores', digits: 2 },
          },
        },
        {
          name: '2 worker processes',
          role: 'subject',
          figures: {
            'drain time': { value: two, unit: 's', digits: 2 },
            throughput: { value: jobs / two, unit: 'photos/s', digits: 2 },
            'CPU used by workers': { value: median(cores[2]!), unit: 'cores', digits: 2 },
          },
        },
      ],
      checks: [
        {
          name: 'scaling ratio (1-process time ÷ 2-process time)',
          value: one / two,
          unit: '×',
          digits: 2,
          spread: [Math.min(...ratios), Math.max(...ratios)],
          target: { op: '>=', value: 1.6 },
        },
      ],
      notes: [
        'Median over rounds; each round drains a fresh backlog with 1 then 2 processes.',
        'Needs a quiet machine: anything else running takes cores from the 2-process run first, so a busy machine understates the ratio.',
        '"CPU used by workers" is the workers\' CPU time over the drain divided by its wall time: about 1.0 and 2.0 on a quiet machine; less for 2 processes means other work held the second core.',
      ],
    };
  },
};

/** Queues `n` ingest jobs through the real API (no worker running yet), then stops it. */
async function backlog(env: Record<string, string>, n: number, photo: Buffer, library: string, redisPid: number): Promise<void> {
  const port = await freePort();
  const api = spawnTs('api/main.ts', { env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, killWithBench: [redisPid] });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/healthz`, api);
    const auth = { authorization: `Bearer ${API_KEY}` };
    // `allow`: the same bytes n times are n resources, each ingested in full.
    const lib = await fetch(`${base}/v1/libraries`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: library, dedupe: 'allow' }),
    });
    if (lib.status !== 201) throw new Error(`library: ${lib.status} ${await lib.text()}`);
    for (let i = 0; i < n; i++) {
      const fd = new FormData();
      fd.append('no_exif', '1');
      fd.append('file', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), `p${i}.jpg`);
      const res = await fetch(`${base}/v1/libraries/${library}/files`, { method: 'POST', headers: auth, body: fd });
      if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
    }
  } finally {
    await api.stop();
  }
}

/** Starts `k` worker processes on the paused queue, resumes it, and times until `n` jobs completed. */
async function drain(
  env: Record<string, string>,
  queue: IngestQueue,
  k: number,
  n: number,
  redisPid: number,
): Promise<{ seconds: number; cores: number }> {
  await queue.pause();
  const workers: NodeChild[] = Array.from({ length: k }, () =>
    spawnTs('worker/main.ts', { env: { ...env, LOG_LEVEL: 'info' }, killWithBench: [redisPid] }),
  );
  try {
    const deadline = Date.now() + 60_000;
    while (!workers.every((w) => w.output().includes('worker started'))) {
      if (Date.now() > deadline) throw new Error(`workers did not start:\n${workers.map((w) => w.output()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cpu0 = workers.reduce((s, w) => s + procStats(w.pid).cpuSeconds, 0);
    const t = performance.now();
    await queue.resume();
    for (;;) {
      const c = await queue.getJobCounts('completed', 'failed');
      if (c.failed) throw new Error(`${c.failed} ingest job(s) failed:\n${workers.map((w) => w.output()).join('\n')}`);
      if (c.completed! >= n) break;
      if (performance.now() - t > 600_000) throw new Error(`only ${c.completed} of ${n} jobs completed in 10 minutes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t) / 1000;
    const cpu = workers.reduce((s, w) => s + procStats(w.pid).cpuSeconds, 0) - cpu0;
    return { seconds, cores: cpu / seconds };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}
