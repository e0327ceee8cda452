import { newResourceRecord } from '../../shared/catalog/new-record.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ExifTool, exiftoolPath } from 'exiftool-vendored';
import sharp from 'sharp';
import { loadConfig } from '../../shared/config.js';
import { openCore, type Core } from '../../shared/core.js';
import { startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import { createLogger } from '../../shared/logger.js';
import type { ResourceRecord } from '../../shared/model.js';
import { createRedis } from '../../shared/redis.js';
import { ReprocessService } from '../../shared/services/reprocess-service.js';
import { writeRecordCopy } from '../../shared/services/record-copy.js';
import { originalKey } from '../../shared/storage/layout.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';
import { benchTempDir, repoRoot } from '../lib/proc.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

const FIXTURES = path.join(repoRoot, '../shared/fixtures');

/**
 * (a) Re-reading revert (`{"reread": true}`) through media-ingest's workers against a
 * bare script calling exiftool-vendored on the same files with the same exiftool process
 * count, and against raw `exiftool -stay_open True -@ -` of the exiftool the worker runs
 * (exiftool-vendored's, so the ratio is media-ingest's own cost). (b) A mapping change applied from the stored tags (the fast
 * path) over many resources against re-reading them.
 */
export const metadataRevert: Scenario = {
  name: 'metadata-revert',
  description:
    'Re-reading revert throughput vs a bare exiftool-vendored script and raw exiftool -stay_open (same process count); mapping change from stored tags vs re-reading.',

  async run(): Promise<ScenarioResult> {
    const files = envInt('BENCH_REVERT_FILES', 600);
    const bulk = envInt('BENCH_REVERT_RESOURCES', 10_000);
    const procs = envInt('BENCH_EXIFTOOL_PROCS', os.availableParallelism());
    const { dir: root, remove } = await benchTempDir('mi-bench-revert-');
    const redis = await startEmbeddedRedis({ dir: path.join(root, 'redis'), appendonly: false });
    try {
      const samples = await sampleFiles();
      const srcDir = path.join(root, 'files');
      await fs.mkdir(srcDir);
      const paths: string[] = [];
      for (let i = 0; i < files; i++) {
        const s = samples[i % samples.length]!;
        const p = path.join(srcDir, `f${i}${s.ext}`);
        await fs.writeFile(p, s.bytes);
        paths.push(p);
      }

      const bare = await timeIt(() => bareVendored(paths, procs));
      // The exiftool the worker runs (exiftool-vendored's), so the ratio is media-ingest's own cost.
      const exiftoolScript = await exiftoolPath();
      const raw = await timeIt(() => rawStayOpen(exiftoolScript, paths, procs));

      const config = loadConfig({
        DATA_DIR: root,
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'bench',
        LOG_LEVEL: 'warn',
        WORKER_CONCURRENCY: String(procs * 2),
        EXIFTOOL_MAX_PROCS: String(procs),
      });
      const core = await openCore(config, redis.url);
      const connection = createRedis(redis.url, 'worker');
      const workers = createWorkers({
        ...core,
        connection,
        redisPrefix: config.redis.prefix,
        logger: createLogger('warn', 'bench'),
        concurrency: procs * 2,
      });
      const queueRedis = createRedis(redis.url, 'queue');
      const queue = openQueue('ingest', queueRedis, config.redis.prefix);
      const service = new ReprocessService({
        catalog: core.catalog,
        ingestQueue: queue,
        jobAttempts: 2,
        logger: createLogger('warn', 'bench'),
      });
      try {
        const readLib = await core.catalog.createLibrary({ name: 'reread', dedupe: 'allow' });
        await seedOriginals(core, readLib.id, paths, samples);
        const reread = await timeIt(() => runBatch(core, service, readLib.id, { reread: true }));

        // (b): one real tag set, stored with `bulk` resources; then a mapping change.
        const first = (await core.catalog.listResources({ library: readLib.id, limit: 1 })).items[0]!;
        const fullCopy = await core.store.get(`resources/${(first.id % 4096).toString(16).padStart(3, '0')}/${first.id}/record.json`);
        const chunks: Buffer[] = [];
        for await (const c of fullCopy) chunks.push(c as Buffer);
        const metadata = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metadata: Record<string, unknown> }).metadata;
        const fastLib = await core.catalog.createLibrary({ name: 'fast', dedupe: 'allow' });
        await seedRecords(core, fastLib.id, bulk, first, metadata);
        await core.catalog.mappings.put({ brand: { tags: ['EXIF:Make'], type: 'text' } });
        const fast = await timeIt(() => runBatch(core, service, fastLib.id, { reread: false }));

        const perSecond = (n: number, s: number) => n / s;
        const bareRate = perSecond(files, bare);
        const rereadRate = perSecond(files, reread);
        const fastRate = perSecond(bulk, fast);
        return {
          parameters: {
            BENCH_REVERT_FILES: files,
            BENCH_REVERT_RESOURCES: bulk,
            BENCH_EXIFTOOL_PROCS: procs,
            WORKER_CONCURRENCY: procs * 2,
            'sample files': samples.length,
          },
          variants: [
            {
              name: 'raw exiftool -stay_open',
              role: 'baseline',
              figures: { seconds: { value: raw, unit: 's', digits: 2 }, rate: { value: perSecond(files, raw), unit: 'files/s' } },
            },
            {
              name: 'bare exiftool-vendored script',
              role: 'baseline',
              figures: { seconds: { value: bare, unit: 's', digits: 2 }, rate: { value: bareRate, unit: 'files/s' } },
            },
            {
              name: 'media-ingest revert {"reread": true}',
              role: 'subject',
              figures: { seconds: { value: reread, unit: 's', digits: 2 }, rate: { value: rereadRate, unit: 'files/s' } },
            },
            {
              name: `media-ingest mapping change from stored tags (${bulk} resources)`,
              role: 'subject',
              figures: { seconds: { value: fast, unit: 's', digits: 2 }, rate: { value: fastRate, unit: 'resources/s' } },
            },
          ],
          checks: [
            {
              name: 'reread revert / bare exiftool-vendored',
              value: rereadRate / bareRate,
              unit: '×',
              digits: 2,
              target: { op: '>=', value: 0.85 },
            },
            {
              name: 'reread revert / raw exiftool -stay_open',
              value: rereadRate / perSecond(files, raw),
              unit: '×',
              digits: 2,
              target: { op: '>=', value: 0.9 },
            },
            { name: 'mapping change from stored tags / reread (per resource)', value: fastRate / rereadRate, unit: '×', digits: 1 },
          ],
          notes: [
            `Files: ${samples.length} distinct images (${samples.map((s) => s.name).join(', ')}) repeated to ${files}; every variant reads the same files.`,
            'The bare script and raw exiftool keep every exiftool process busy (2 tasks in flight per process); the subject is a bulk revert batch over the whole library (POST /v1/reprocess path: fan-out, low priority jobs, record writes, record.json copies), timed from creation to "completed".',
            "Raw exiftool: one `perl exiftool -stay_open True -@ -` per process — the exiftool the worker runs (exiftool-vendored.pl), so the ratio is media-ingest's own cost, not a difference between exiftool versions — `-json -G -n <file> -execute` per file; the bare script: ExifTool.readRaw with the same -G -n options.",
            'The reread revert also verifies the stored original and reads the image header (sharp) per file, as a real revert does; renditions are off.',
          ],
        };
      } finally {
        await closeWorkers(workers, 5000);
        await queue.close();
        queueRedis.disconnect();
        connection.disconnect();
        await core.close();
      }
    } finally {
      await redis.stop();
      await remove();
    }
  },
};

interface Sample {
  name: string;
  ext: string;
  bytes: Buffer;
}

async function sampleFiles(): Promise<Sample[]> {
  const names = [
    'camera/Canon EOS 7D.jpg',
    'camera/87_OSError.jpg',
    'gps/Sony DSC-HX5V (2).jpg',
    'iptc-xmp/BlueSquare.jpg',
    'formats/tifftag-photoshop.tiff',
  ];
  const out: Sample[] = [];
  for (const n of names) {
    const bytes = await fs.readFile(path.join(FIXTURES, n)).catch(() => undefined);
    if (bytes) out.push({ name: n, ext: path.extname(n).toLowerCase(), bytes });
  }
  if (out.length) return out;
  const bytes = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#345' } })
    .jpeg()
    .withExif({ IFD0: { Make: 'Bench', Model: 'Synthetic' } })
    .toBuffer();
  return [{ name: 'synthetic.jpg', ext: '.jpg', bytes }];
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function bareVendored(paths: string[], procs: number): Promise<void> {
  const et = new ExifTool({ maxProcs: procs });
  let next = 0;
  await Promise.all(
    Array.from({ length: procs * 2 }, async () => {
      while (next < paths.length) await et.readRaw(paths[next++]!, { readArgs: ['-G', '-n'], useMWG: false, ignoreMinorErrors: false });
    }),
  );
  await et.end();
}

async function rawStayOpen(script: string, paths: string[], procs: number): Promise<void> {
  await Promise.all(
    Array.from({ length: procs }, (_, p) => {
      const mine = paths.filter((_, i) => i % procs === p);
      return new Promise<void>((resolve, reject) => {
        const child = spawn('perl', [script, '-stay_open', 'True', '-@', '-'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let seen = 0;
        let buf = '';
        let sent = 0;
        // Two in flight, as exiftool-vendored's queue keeps them.
        const send = () => {
          if (sent < mine.length) child.stdin.write(`-json\n-G\n-n\n${mine[sent++]}\n-execute\n`);
        };
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d: string) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('{ready}')) >= 0) {
            buf = buf.slice(i + 7);
            seen++;
            if (seen === mine.length) {
              child.stdin.end('-stay_open\nFalse\n');
              resolve();
            } else send();
          }
        });
        child.on('error', reject);
        send();
        send();
      });
    }),
  );
}

async function seedOriginals(core: Core, library: number, paths: string[], samples: Sample[]): Promise<void> {
  const base = baseRecord(library);
  const records: ResourceRecord[] = [];
  for (const [i, p] of paths.entries()) {
    const id = await core.catalog.allocateResourceId();
    const s = samples[i % samples.length]!;
    const ext = s.ext.slice(1);
    const key = originalKey(id, 1, ext);
    await core.store.put(key, s.bytes, { contentType: 'application/octet-stream' });
    records.push({
      ...base,
      id,
      fileName: path.basename(p),
      extension: ext,
      mimeType: ext === 'tiff' ? 'image/tiff' : 'image/jpeg',
      size: s.bytes.length,
      storageKey: key,
      jobId: `ingest-${id}-1`,
    });
  }
  for (let i = 0; i < records.length; i += 1000) await core.catalog.createResources(records.slice(i, i + 1000));
}

async function seedRecords(core: Core, library: number, n: number, like: ResourceRecord, metadata: Record<string, unknown>): Promise<void> {
  const records: ResourceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const id = await core.catalog.allocateResourceId();
    records.push({ ...like, id, library, jobId: `ingest-${id}-1`, storageKey: `resources/none/${id}`, mappingsVersion: 1 });
  }
  for (let i = 0; i < n; i += 1000) await core.catalog.createResources(records.slice(i, i + 1000));
  for (let i = 0; i < n; i += 200) await Promise.all(records.slice(i, i + 200).map((r) => writeRecordCopy(core.store, r, metadata)));
}

function baseRecord(library: number): Omit<ResourceRecord, 'id' | 'fileName' | 'extension' | 'mimeType' | 'size' | 'storageKey' | 'jobId'> {
  const {
    id: _id,
    fileName: _f,
    extension: _e,
    mimeType: _m,
    size: _s,
    storageKey: _k,
    jobId: _j,
    ...rest
  } = newResourceRecord({
    id: 0,
    library,
    fileName: '',
    source: 'bench',
    type: 'image',
    checksum: '0'.repeat(64),
    status: 'ready',
    mappingsVersion: 1,
  });
  return rest;
}

async function runBatch(core: Core, service: ReprocessService, library: number, opts: { reread: boolean }): Promise<void> {
  const b = await service.revertMany({ library, all: false, staleOnly: false, reread: opts.reread, renditions: false });
  for (;;) {
    const s = await core.catalog.batches.require(b.id);
    if (s.state === 'completed') {
      if (s.failed > 0) throw new Error(`batch ${b.id}: ${s.failed} of ${s.enqueued} failed`);
      return;
    }
    if (s.state !== 'running') throw new Error(`batch ${b.id} is ${s.state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
