import path from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { loadConfig, redisEndpoint } from '../../shared/config.js';
import { openCore } from '../../shared/core.js';
import { startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import { createRedis } from '../../shared/redis.js';
import { UploadService } from '../../shared/services/upload-service.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import { startRedisCluster } from '../../test/harness/redis-cluster.js';
import { variantOf } from '../lib/images.js';
import { benchTempDir, spawnTs } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

const BENCH_KEY = 'bench-key-0123456789abcdef';

/**
 * Redis memory per resource, marginal: `used_memory` after N and after 2N tagged
 * photos went through the real ingest path (upload service → record + job → worker
 * process with exiftool, sharp, checksum claim, four renditions), divided by N. What
 * the service keeps for N more resources — records, indexes, checksum index, retained
 * jobs and their events — and nothing of what a fresh Redis holds anyway. On a
 * 3-master cluster the growth of each master is reported too: the buckets (keys.ts)
 * should spread it evenly.
 */
export const catalogMemory: Scenario = {
  name: 'catalog-memory',
  description:
    'Bytes of Redis per resource (growth of used_memory between N and 2N tagged photos ingested through the worker), on one Redis and on a 3-master Redis Cluster with its per-master share.',

  async run(): Promise<ScenarioResult> {
    const n = envInt('BENCH_PHOTOS', 2_000);
    // 'single', 'cluster' or both (default): each variant ingests 2N photos.
    const which = process.env.BENCH_REDIS ?? 'single,cluster';
    const { dir, remove } = await benchTempDir('mi-bench-catmem-');
    const photo = await taggedPhoto();
    try {
      const variants: VariantResult[] = [];
      const checks: Check[] = [];
      const notes: string[] = [];

      const single = which.includes('single') ? await startEmbeddedRedis({ dir: path.join(dir, 'redis'), appendonly: false }) : undefined;
      if (single)
        try {
          const r = await measure({ REDIS_URL: single.url }, [single.port], path.join(dir, 'single'), photo, n);
          variants.push({
            name: 'one Redis',
            role: 'subject',
            figures: {
              bytesPerResource: { value: r.perResource, unit: 'B', digits: 0 },
              seconds: { value: r.seconds, unit: 's', digits: 0 },
            },
          });
          checks.push({
            name: 'bytes per resource, one Redis',
            value: r.perResource,
            unit: 'B',
            digits: 0,
            target: { op: '<=', value: 1_024 },
          });
          notes.push(breakdownNote('one Redis', r, n));
        } finally {
          await single.stop();
        }

      const cluster = which.includes('cluster') ? await startRedisCluster() : undefined;
      if (cluster)
        try {
          const r = await measure(
            { REDIS_CLUSTER_NODES: cluster.seeds },
            cluster.nodes.map((x) => x.port),
            path.join(dir, 'cluster'),
            photo,
            n,
          );
          const shares = r.perNode.map((b) => b / r.perNode.reduce((a, x) => a + x, 0));
          variants.push({
            name: '3-master cluster',
            role: 'subject',
            figures: {
              bytesPerResource: { value: r.perResource, unit: 'B', digits: 0 },
              seconds: { value: r.seconds, unit: 's', digits: 0 },
              ...Object.fromEntries(shares.map((s, i) => [`master${i + 1}Share`, { value: s * 100, unit: '%', digits: 1 }])),
            },
          });
          checks.push({
            name: 'bytes per resource, 3-master cluster (all masters)',
            value: r.perResource,
            unit: 'B',
            digits: 0,
            target: { op: '<=', value: 1_024 },
          });
          checks.push({
            name: 'per-master growth, max / min',
            value: Math.max(...r.perNode) / Math.min(...r.perNode),
            unit: '×',
            digits: 2,
            target: { op: '<=', value: 1.2 },
          });
          checks.push({
            name: 'per-master growth of the keys alone (MEMORY USAGE), max / min',
            value: Math.max(...r.perNodeKeys) / Math.min(...r.perNodeKeys),
            unit: '×',
            digits: 2,
          });
          notes.push(
            `Cluster growth per master, per resource (${n} → ${2 * n} photos): used_memory ${r.perNode.map((b) => Math.round(b)).join(', ')} B; the keys' MEMORY USAGE ${r.perNodeKeys.map((b) => Math.round(b)).join(', ')} B.`,
          );
          notes.push(breakdownNote('3-master cluster', r, n));
        } finally {
          await cluster.stop();
        }
      notes.push(
        `Each photo: a ${PHOTO_W}×${PHOTO_H} JPEG with EXIF tags (make, model, description, artist, copyright, date), bytes made unique by a JPEG comment; uploaded through UploadService (stage + commit, as the API does) into the default library (dedupe reject) and processed by one worker process (WORKER_CONCURRENCY 2) with the four default renditions.`,
        'used_memory is read 5 s after every job has finished (completed jobs are trimmed by count as each completes, 100 per queue; events streams capped at ~1,000 entries), so the marginal figure is what Redis holds per resource for good.',
        'Before issue 13 the same measurement (from outside, with npm start) gave 4,547 bytes per resource: a record hash of ~2.0-2.3 KB in the hashtable encoding and a retained job of ~1.2 KB.',
      );
      if (n < 200)
        notes.push(
          'With N below 200 the retained completed jobs (up to 100 per queue) and the events stream (~1,000 entries, ~6 per job) are still growing and counted in the figure.',
        );
      return { parameters: { photos: `${n} → ${2 * n}`, redis: which, renditions: 4, workerConcurrency: 2 }, variants, checks, notes };
    } finally {
      await remove();
    }
  },
};

const PHOTO_W = 160;
const PHOTO_H = 120;

async function taggedPhoto(): Promise<Buffer> {
  return sharp({
    create: { width: PHOTO_W, height: PHOTO_H, channels: 3, background: '#406080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .jpeg({ quality: 85 })
    .withExif({
      IFD0: {
        Make: 'Acme',
        Model: 'Model 7',
        ImageDescription: 'Harbour at dawn, boats leaving',
        Artist: 'A. Photographer',
        Copyright: '(c) 2026 A. Photographer',
      },
      IFD2: { DateTimeOriginal: '2026:05:01 06:12:00', OffsetTimeOriginal: '+02:00' },
    })
    .toBuffer();
}

function breakdownNote(variant: string, r: Measured, n: number): string {
  const rows = r.breakdown
    .filter((b) => Math.abs(b.perResource) >= 0.5)
    .sort((a, b) => b.perResource - a.perResource)
    .map((b) => `${b.kind} ${b.perResource.toFixed(1)} B (${b.keys} keys at ${2 * n}, ${b.encodings.join('/') || '?'})`);
  const keys = r.breakdown.reduce((a, b) => a + b.perResource, 0);
  return `Where the bytes go, ${variant} (MEMORY USAGE of every key, growth per resource ${n} → ${2 * n}): ${rows.join('; ')}; keys together ${keys.toFixed(0)} B of the ${r.perResource.toFixed(0)} B used_memory grew by (the rest: Redis' keyspace tables and allocator rounding).`;
}

interface Measured {
  perResource: number;
  perNode: number[];
  /** Growth of the keys' MEMORY USAGE per master, per resource: the data alone, without client buffers and tables. */
  perNodeKeys: number[];
  seconds: number;
  /** MEMORY USAGE of the keys, summed per kind: growth per resource, and encodings seen at 2N. */
  breakdown: { kind: string; keys: number; perResource: number; encodings: string[] }[];
}

/**
 * What a key is, from its name (shared/catalog/keys.ts): a catalog key of a bucket, a
 * small global key, or one of a BullMQ queue's keys (its job hashes counted together).
 */
function kindOf(key: string): string {
  const bucket = /^\{mi:[0-9a-z]+\}:(r|i|n|s):?/.exec(key);
  if (bucket && !/^\{mi:(ingest|render|bulk|webhook)\}/.test(key))
    return { r: 'record', i: 'index', n: 'counts', s: 'checksum index' }[bucket[1]!]!;
  const queue = /^\{mi:(ingest|render|bulk|webhook)\}:[a-z]+:(.*)$/.exec(key);
  if (queue) {
    const rest = queue[2]!;
    const own =
      /^(wait|active|completed|failed|delayed|prioritized|paused|meta|events|id|stalled|stalled-check|marker|limiter|pc|metrics:.*|de:.*)$/.test(
        rest,
      )
        ? rest
        : /:logs$/.test(rest)
          ? 'job logs'
          : 'job hashes';
    return `queue ${queue[1]}: ${own}`;
  }
  if (key.startsWith('{mi}:')) return `global ${key.slice(5).split(':')[0]}`;
  return 'other';
}

/** Every key of every master: count, MEMORY USAGE (SAMPLES 0: exact) and OBJECT ENCODING per kind. */
async function keyKinds(
  masters: Redis[],
): Promise<{ kinds: Map<string, { keys: number; bytes: number; encodings: Set<string> }>; perNode: number[] }> {
  const out = new Map<string, { keys: number; bytes: number; encodings: Set<string> }>();
  const perNode: number[] = [];
  for (const m of masters) {
    let total = 0;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await m.scan(cursor, 'COUNT', 1_000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
    for (let i = 0; i < keys.length; i += 500) {
      const slice = keys.slice(i, i + 500);
      const pipe = m.pipeline();
      for (const k of slice) {
        pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
        pipe.call('OBJECT', 'ENCODING', k);
      }
      const res = (await pipe.exec()) ?? [];
      slice.forEach((k, j) => {
        const kind = kindOf(k);
        const e = out.get(kind) ?? { keys: 0, bytes: 0, encodings: new Set<string>() };
        e.keys++;
        e.bytes += Number(res[2 * j]?.[1] ?? 0);
        total += Number(res[2 * j]?.[1] ?? 0);
        const enc = res[2 * j + 1]?.[1];
        if (typeof enc === 'string') e.encodings.add(enc);
        out.set(kind, e);
      });
    }
    perNode.push(total);
  }
  return { kinds: out, perNode };
}

async function measure(redisEnv: Record<string, string>, ports: number[], dir: string, photo: Buffer, n: number): Promise<Measured> {
  const env: Record<string, string> = {
    ...redisEnv,
    DATA_DIR: dir,
    STORAGE_DRIVER: 'fs',
    LOG_LEVEL: 'warn',
    API_KEYS: BENCH_KEY,
    WORKER_CONCURRENCY: '2',
    REDIS_PREFIX: 'mi',
  };
  const config = loadConfig(env);
  const target = redisEndpoint(config)!;
  const core = await openCore(config, target);
  const queueRedis = createRedis(target, 'queue');
  const ingestQueue = openQueue('ingest', queueRedis, config.redis.prefix);
  const uploads = new UploadService({
    catalog: core.catalog,
    store: core.store,
    ingestQueue,
    jobAttempts: 3,
    maxUploadBytes: Number.MAX_SAFE_INTEGER,
  });
  const worker = spawnTs('bench/servers/ingest-worker.ts', { env });
  const masters = await mastersOf(ports);
  const started = Date.now();
  try {
    await waitFor(
      () => worker.output().includes('worker ready'),
      60_000,
      () => worker.output(),
    );
    const library = await core.catalog.getLibrary('default');
    let seed = 0;
    const ingest = async (count: number) => {
      const ids: number[] = [];
      for (let done = 0; done < count;) {
        const batch = Math.min(50, count - done);
        const staged = [];
        for (let i = 0; i < batch; i++) {
          const bytes = variantOf(photo, seed++);
          staged.push(
            await uploads.stage({ fileName: `photo-${seed}.jpg`, declaredType: 'image/jpeg', stream: Readable.from([bytes]) }, 1024 ** 2),
          );
        }
        const res = await uploads.commit(staged, new UploadFieldsBuilder().build(), library, 'upload');
        ids.push(...res.map((r) => r.id));
        done += batch;
      }
      await waitFor(
        async () => {
          const recs = await core.catalog.getResources(ids);
          const failed = recs.find((r) => r?.status === 'failed');
          if (failed) throw new Error(`resource ${failed.id} failed: ${failed.error}`);
          return recs.every((r) => r?.status === 'ready');
        },
        3_600_000,
        () => worker.output(),
      );
      // Completed jobs are trimmed as each job completes; Redis shrinks idle clients'
      // query buffers after 2 s (clientsCron), which would otherwise count as growth.
      await new Promise((r) => setTimeout(r, 5_000));
    };
    await ingest(n);
    const before = await usedMemory(masters);
    const kindsBefore = await keyKinds(masters);
    await ingest(n);
    const after = await usedMemory(masters);
    const kindsAfter = await keyKinds(masters);
    const perNode = after.map((a, i) => (a - before[i]!) / n);
    const perNodeKeys = kindsAfter.perNode.map((a, i) => (a - kindsBefore.perNode[i]!) / n);
    const breakdown = [...kindsAfter.kinds.keys()].map((kind) => {
      const a = kindsAfter.kinds.get(kind)!;
      const b = kindsBefore.kinds.get(kind) ?? { keys: 0, bytes: 0, encodings: new Set<string>() };
      return { kind, keys: a.keys, perResource: (a.bytes - b.bytes) / n, encodings: [...a.encodings].sort() };
    });
    return { perResource: perNode.reduce((a, x) => a + x, 0), perNode, perNodeKeys, seconds: (Date.now() - started) / 1000, breakdown };
  } finally {
    await worker.stop();
    await ingestQueue.close();
    queueRedis.disconnect();
    await core.close();
    for (const m of masters) m.disconnect();
  }
}

/** Direct connections to every master (one Redis: itself). */
async function mastersOf(ports: number[]): Promise<Redis[]> {
  const out: Redis[] = [];
  for (const port of ports) {
    const r = new Redis(port, '127.0.0.1');
    const role = ((await r.call('ROLE')) as [string])[0];
    if (role === 'master') out.push(r);
    else r.disconnect();
  }
  return out;
}

async function usedMemory(masters: Redis[]): Promise<number[]> {
  return Promise.all(
    masters.map(async (m) => {
      const info = await m.info('memory');
      return Number(/used_memory:(\d+)/.exec(info)![1]);
    }),
  );
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${detail().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
