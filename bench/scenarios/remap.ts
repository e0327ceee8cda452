import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Worker } from 'bullmq';
import sharp from 'sharp';
import { encodeRecord } from '../../shared/catalog/codec.js';
import { newResourceRecord } from '../../shared/catalog/new-record.js';
import { mgetAll, perKey } from '../../shared/catalog/per-node.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { openCore, type Core } from '../../shared/core.js';
import { startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import { createLogger } from '../../shared/logger.js';
import { applyMappings, type FieldMappings } from '../../shared/metadata/field-mappings.js';
import type { ResourceRecord } from '../../shared/model.js';
import { createRedis, type RedisConnection } from '../../shared/redis.js';
import { readRecordCopy, writeRecordCopy } from '../../shared/services/record-copy.js';
import { ReprocessService } from '../../shared/services/reprocess-service.js';
import { recordKey } from '../../shared/storage/layout.js';
import { readTags } from '../../worker/metadata/read-tags.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';
import { benchTempDir, repoRoot, selfCpuSeconds } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult } from '../scenario.js';

const FIXTURE = path.join(repoRoot, '../shared/fixtures/camera/Canon EOS 7D.jpg');

/**
 * Bulk re-map after a mapping change (`POST /v1/reprocess`, no `reread`): the current
 * mappings over the tag sets stored at ingest, under `npm start`'s defaults (one process
 * with API and worker, WORKER_CONCURRENCY = cores, BULK_JOBS_PER_SECOND, REMAP_PAGE_SIZE,
 * Redis with AOF). Two kinds of change: one that changes every resource's fields (every
 * record copy is written again) and one that changes none (Redis records only). Baselines
 * in the same run: the per-resource path (REMAP_PAGE_SIZE=0, the path before pages) on a
 * share of the resources, and the raw floor — pipelined Redis reads and writes of the
 * same records with the copies read (and written where the fields change) in one loop.
 */
export const remap: Scenario = {
  name: 'remap',
  description:
    'Bulk re-map from stored tags after a mapping change, fs store, npm start defaults: paged jobs vs the per-resource path and a raw pipelined Redis+copy loop.',

  async run(): Promise<ScenarioResult> {
    const n = Number(process.env.BENCH_REMAP_RESOURCES ?? 100_000);
    const nOld = Number(process.env.BENCH_REMAP_OLD_RESOURCES ?? 3_000);
    const rounds = Number(process.env.BENCH_REMAP_ROUNDS ?? 3);
    const nRaw = Number(process.env.BENCH_REMAP_RAW_RESOURCES ?? 20_000);
    const { dir: root, remove } = await benchTempDir('mi-bench-remap-');
    // As npm start: a private redis-server with AOF.
    const redis = await startEmbeddedRedis({ dir: path.join(root, 'redis'), appendonly: true });
    const opened: { core: Core; conn: RedisConnection; workers: Worker[] }[] = [];
    const open = async (env: Record<string, string>) => {
      const config = loadConfig({ DATA_DIR: root, REDIS_URL: redis.url, REDIS_PREFIX: 'bench', LOG_LEVEL: 'warn', ...env });
      const core = await openCore(config, redis.url);
      const conn = createRedis(redis.url, 'worker');
      const workers = createWorkers({
        ...core,
        connection: conn,
        redisPrefix: config.redis.prefix,
        logger: createLogger('warn', 'bench'),
        concurrency: config.worker.concurrency,
      });
      opened.push({ core, conn, workers });
      return { config, core, workers };
    };
    const close = async () => {
      for (const o of opened.splice(0)) {
        await closeWorkers(o.workers, 5000);
        o.conn.disconnect();
        await o.core.close();
      }
    };
    try {
      const { config, core } = await open({});
      const tags = await sampleTags(root, config);
      const lib = await core.catalog.createLibrary({ name: 'remap', dedupe: 'allow' });
      const oldLib = await core.catalog.createLibrary({ name: 'per-resource', dedupe: 'allow' });
      const t0 = performance.now();
      const ids = await seed(core, lib.id, n, tags);
      const oldIds = await seed(core, oldLib.id, nOld, tags);
      const seedSeconds = (performance.now() - t0) / 1000;
      const queueRedis = createRedis(redis.url, 'queue');
      const service = new ReprocessService({
        catalog: core.catalog,
        ingestQueue: openQueue('ingest', queueRedis, config.redis.prefix),
        bulkQueue: openQueue('bulk', queueRedis, config.redis.prefix),
        jobAttempts: config.jobs.attempts,
        logger: createLogger('warn', 'bench'),
      });

      // The raw loop keeps as many copies in flight as the paged path does: 32 per page job, BULK_CONCURRENCY pages.
      const inFlight = 32 * config.worker.bulkConcurrency;
      let version = 0;
      // Every resource's fields change: a new field from a tag every resource has.
      const changeAll = () => core.catalog.mappings.put({ ...BASE, [`brand${++version}`]: { tags: ['EXIF:Make'], type: 'text' } });
      // No resource's fields change: the mappings as they are, plus a field from a tag none has.
      const changeNone = async () =>
        core.catalog.mappings.put({
          ...(await core.catalog.mappings.get()).fields,
          [`absent${++version}`]: { tags: ['XMP:NoSuchTag'], type: 'text' },
        });
      const mapped = new Map<string, number[]>();
      const note = (k: string, v: number) => mapped.set(k, [...(mapped.get(k) ?? []), v]);
      // CPU per resource, this process (API, workers, libuv threads) and Redis together:
      // what the rate costs, whatever else competes for the cores.
      const cpu = new Map<string, number[]>();
      const redisCpu = async () => {
        const info = await queueRedis.info('cpu');
        return ['used_cpu_sys', 'used_cpu_user'].reduce(
          (sum, f) => sum + Number(new RegExp(`^${f}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0),
          0,
        );
      };
      const measure = async (k: string, resources: number, run: () => Promise<number>) => {
        const [c0, r0] = [selfCpuSeconds(), await redisCpu()];
        const seconds = await run();
        const used = selfCpuSeconds() - c0 + ((await redisCpu()) - r0);
        note(k, resources / seconds);
        cpu.set(k, [...(cpu.get(k) ?? []), (used * 1000) / resources]);
      };
      for (let r = 0; r < rounds; r++) {
        await changeAll();
        await measure('paged, every field changes', n, () => timeBatch(core, service, lib.id));
        await measure('raw, every field changes', nRaw, () => rawLoop(core, ids.slice(0, nRaw), true, inFlight));
        await changeNone();
        await measure('paged, no field changes', n, () => timeBatch(core, service, lib.id));
        await measure('raw, no field changes', nRaw, () => rawLoop(core, ids.slice(0, nRaw), false, inFlight));
      }
      await close();
      // The per-resource path: same defaults, pages off.
      const old = await open({ REMAP_PAGE_SIZE: '0' });
      const oldService = new ReprocessService({
        catalog: old.core.catalog,
        ingestQueue: openQueue('ingest', queueRedis, config.redis.prefix),
        bulkQueue: openQueue('bulk', queueRedis, config.redis.prefix),
        jobAttempts: config.jobs.attempts,
        logger: createLogger('warn', 'bench'),
      });
      for (let r = 0; r < rounds; r++) {
        await old.core.catalog.mappings.put({ ...BASE, [`brand${++version}`]: { tags: ['EXIF:Make'], type: 'text' } });
        await measure('per-resource, every field changes', nOld, () => timeBatch(old.core, oldService, oldLib.id));
      }
      void oldIds;
      await close();
      queueRedis.disconnect();

      const m = (k: string) => median(mapped.get(k)!);
      const s = (k: string): [number, number] => [Math.min(...mapped.get(k)!), Math.max(...mapped.get(k)!)];
      const fig = (k: string) => ({
        rate: { value: m(k), unit: 'resources/s', digits: 0 },
        cpu: { value: median(cpu.get(k)!), unit: 'CPU ms/resource', digits: 3 },
        perCpu: { value: 1000 / median(cpu.get(k)!), unit: 'resources/CPU-s', digits: 0 },
      });
      const ratio = (a: string, b: string): Check => {
        const per = mapped.get(a)!.map((x, i) => x / mapped.get(b)![i]!);
        return { name: `${a} / ${b}`, value: median(per), unit: '×', digits: 2, spread: [Math.min(...per), Math.max(...per)] };
      };
      return {
        parameters: {
          BENCH_REMAP_RESOURCES: n,
          BENCH_REMAP_OLD_RESOURCES: nOld,
          BENCH_REMAP_ROUNDS: rounds,
          BENCH_REMAP_RAW_RESOURCES: nRaw,
          WORKER_CONCURRENCY: config.worker.concurrency,
          BULK_CONCURRENCY: config.worker.bulkConcurrency,
          BULK_JOBS_PER_SECOND: config.jobs.bulkJobsPerSecond,
          REMAP_PAGE_SIZE: config.jobs.reprocess.pageSize,
          'seeding (s)': Math.round(seedSeconds),
        },
        variants: [
          {
            name: `raw pipelined Redis + copies, every field changes, ${nRaw} resources`,
            role: 'baseline',
            figures: fig('raw, every field changes'),
          },
          {
            name: `raw pipelined Redis + copies, no field changes, ${nRaw} resources`,
            role: 'baseline',
            figures: fig('raw, no field changes'),
          },
          {
            name: `per-resource jobs (REMAP_PAGE_SIZE=0), every field changes, ${nOld} resources`,
            role: 'baseline',
            figures: fig('per-resource, every field changes'),
          },
          { name: `paged re-map, every field changes, ${n} resources`, role: 'subject', figures: fig('paged, every field changes') },
          { name: `paged re-map, no field changes, ${n} resources`, role: 'subject', figures: fig('paged, no field changes') },
        ],
        checks: [
          {
            name: 'paged re-map, every field changes (resources/s)',
            value: m('paged, every field changes'),
            unit: '/s',
            digits: 0,
            spread: s('paged, every field changes'),
            target: { op: '>=', value: 1000 },
          },
          {
            name: 'paged re-map, no field changes (resources/s)',
            value: m('paged, no field changes'),
            unit: '/s',
            digits: 0,
            spread: s('paged, no field changes'),
            target: { op: '>=', value: 1000 },
          },
          {
            name: 'paged re-map, every field changes: resources per CPU-second (service + Redis)',
            value: 1000 / median(cpu.get('paged, every field changes')!),
            unit: '/CPU-s',
            digits: 0,
            spread: [
              1000 / Math.max(...cpu.get('paged, every field changes')!),
              1000 / Math.min(...cpu.get('paged, every field changes')!),
            ],
          },
          {
            name: 'paged re-map, no field changes: resources per CPU-second (service + Redis)',
            value: 1000 / median(cpu.get('paged, no field changes')!),
            unit: '/CPU-s',
            digits: 0,
            spread: [1000 / Math.max(...cpu.get('paged, no field changes')!), 1000 / Math.min(...cpu.get('paged, no field changes')!)],
          },
          ratio('paged, every field changes', 'raw, every field changes'),
          ratio('paged, no field changes', 'raw, no field changes'),
          {
            name: 'paged / per-resource (every field changes)',
            value: m('paged, every field changes') / m('per-resource, every field changes'),
            unit: '×',
            digits: 1,
          },
        ],
        notes: [
          `Resources seeded through the catalog API (createResources) with a record copy each holding one real exiftool tag set (${tags.source}; seeded copies written without fsync, set-up only); ingesting ${n} real files would measure uploads, not the re-map.`,
          'A batch is timed from its creation (ReprocessService.revertMany, what POST /v1/reprocess calls; stale-only) to "completed", polled every 50 ms; the workers run in this one process with npm start\'s defaults (the HTTP API is not started: no requests are measured).',
          '"Every field changes": the mapping change adds a field every resource has a tag for, so each record copy is written again (fsync, as every storage write). "No field changes": it adds a field no resource has a tag for; the copies are left alone and only the Redis records move to the new mappings version.',
          'Raw floor: one loop over the first ids in pages of 500 — MGET per slot, the copies read with as many in flight as the paged path keeps (32 per page job × BULK_CONCURRENCY), the mappings applied, the copies written where the fields changed, the records SET in one pipeline — no BullMQ, no compare-and-set, no batch counters.',
          'Medians over the rounds, spreads lowest–highest; the kinds interleave within each round.',
          'CPU per resource: this process (API, workers and their libuv threads, from process.cpuUsage) plus redis-server (INFO cpu) over the batch. Resources per CPU-second is the rate the work allows where it gets the CPU it needs; on this box shared by several benches and test runs (see the load average) the wall-clock rate is that times the share of CPU it got.',
        ],
      };
    } finally {
      await close();
      await redis.stop();
      await remove();
    }
  },
};

/** The defaults' first fields are enough for the mapping to do real work. */
const BASE: FieldMappings = {
  make: { tags: ['EXIF:Make'], type: 'text' },
  model: { tags: ['EXIF:Model'], type: 'text' },
  capturedAt: { tags: ['EXIF:DateTimeOriginal', 'XMP:DateCreated'], type: 'date' },
  title: { tags: ['XMP:Title', 'IPTC:ObjectName'], type: 'text' },
};

async function sampleTags(root: string, config: Config): Promise<{ tags: Record<string, unknown>; source: string }> {
  let file = FIXTURE;
  let source = 'the fixture camera/Canon EOS 7D.jpg';
  if (!(await fs.stat(file).catch(() => undefined))) {
    file = path.join(root, 'sample.jpg');
    source = 'a synthetic JPEG with EXIF (fixtures absent)';
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#345' } })
      .jpeg()
      .withExif({ IFD0: { Make: 'Bench', Model: 'Synthetic' } })
      .toFile(file);
  }
  const { tags } = await readTags(file, path.basename(file), { maxProcs: 1, taskTimeoutMs: config.worker.exiftool.taskTimeoutMs });
  return { tags, source };
}

async function seed(core: Core, library: number, n: number, tags: Record<string, unknown>): Promise<number[]> {
  const mappings = await core.catalog.mappings.get();
  const { fields } = applyMappings(mappings.fields, tags);
  const ids: number[] = [];
  for (let i = 0; i < n; i += 1000) {
    const recs: ResourceRecord[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const id = await core.catalog.allocateResourceId();
      ids.push(id);
      recs.push(record(id, library, mappings.version, fields));
    }
    await core.catalog.createResources(recs);
    // Set-up, not measured: the copies go straight to the disk (no fsync per file), as
    // writeRecordCopy would lay them out.
    await Promise.all(
      recs.map(async (r) => {
        const file = core.store.localPath(recordKey(r.id))!;
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, JSON.stringify({ ...r, metadata: tags }));
      }),
    );
  }
  return ids;
}

function record(id: number, library: number, mappingsVersion: number, fields: Record<string, unknown>): ResourceRecord {
  return newResourceRecord({
    id,
    library,
    fileName: `p${id}.jpg`,
    source: 'bench',
    extension: 'jpg',
    mimeType: 'image/jpeg',
    size: 1000,
    type: 'image',
    checksum: id.toString(16).padStart(64, '0'),
    storageKey: `resources/none/${id}`,
    status: 'ready',
    mappingsVersion,
    fields,
  });
}

async function timeBatch(core: Core, service: ReprocessService, library: number): Promise<number> {
  const t = performance.now();
  const b = await service.revertMany({ library, all: false, staleOnly: true, reread: false, renditions: false });
  for (;;) {
    const s = await core.catalog.batches.require(b.id);
    if (s.state === 'completed') {
      if (s.failed > 0 || s.skipped > 0) throw new Error(`batch ${b.id}: ${s.failed} failed, ${s.skipped} skipped of ${s.enqueued}`);
      return (performance.now() - t) / 1000;
    }
    if (s.state !== 'running') throw new Error(`batch ${b.id} is ${s.state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The floor: the same reads and writes in one loop, pipelined, nothing else. */
async function rawLoop(core: Core, ids: number[], writeCopies: boolean, inFlight: number): Promise<number> {
  const t = performance.now();
  const mappings = await core.catalog.mappings.get();
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    const keys = page.map((id) => core.catalog.keys.resource(id));
    const raws = await mgetAll(core.redis, keys);
    const out: string[] = new Array<string>(page.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < page.length) {
          const k = next++;
          const copy = (await readRecordCopy(core.store, page[k]!))!;
          const { fields } = applyMappings(mappings.fields, copy.metadata);
          const rec = { ...JSON.parse(JSON.stringify(copy.record)), fields, mappingsVersion: mappings.version } as ResourceRecord;
          if (writeCopies) await writeRecordCopy(core.store, rec, copy.metadata);
          out[k] = raws[k] ? encodeRecord(rec) : '';
        }
      }),
    );
    await perKey(core.redis, keys, (p, key, k) => p.set(key, out[k]!));
  }
  return (performance.now() - t) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
