import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultHashThreads } from '../../shared/config.js';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { FsObjectStore } from '../../shared/storage/fs-store.js';
import { HashPool } from '../../shared/upload/hash-pool.js';
import { InspectStream } from '../../shared/upload/inspect-stream.js';
import { CHUNK_BYTES, fileStream, uploadMultipart, type UploadAnswer } from '../lib/payload.js';
import {
  benchTempDir,
  procStats,
  repoRoot,
  selfCpuSeconds,
  spawnApi,
  apiCommand,
  spawnTs,
  stealSeconds,
  waitForHttp,
  type NodeChild,
} from '../lib/proc.js';
import { emptyStore, rgwStore, startRgw, type BenchDriver, type Rgw } from '../lib/rgw.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt, median, roundRatio } from '../lib/params.js';

const MiB = 1024 * 1024;
/** The API's default UPLOAD_HASH_THREADS, which the hashing baselines get too. */
const HASH_THREADS = defaultHashThreads(os.availableParallelism());
/** The API variant with hashing moved off the event loop (or onto it, where the default has threads). */
const OTHER_HASH_THREADS = HASH_THREADS === 0 ? 1 : 0;
const API_KEY = 'bench-key-0123456789abcdef';

export interface Params {
  /** Bytes per file. */
  size: number;
  concurrency: number;
  /** A fresh temp dir per variant, removed afterwards. */
  dir: string;
  /** Idle time right before the timed part; see the note on free page reporting. */
  settleMs: number;
  /** With the s3 driver: the radosgw and this variant's bucket (emptied afterwards). */
  s3?: { rgw: Rgw; bucket: string };
}

export interface Measured {
  wallSeconds: number;
  /** CPU of the bench process: the client for the HTTP variants, everything for "direct". */
  benchCpuSeconds: number;
  server?: { cpuSeconds: number; peakRssMiB: number };
  /** SHA-256 per file (by seed), where the server reports it. */
  checksums?: string[];
  /** CPU time the hypervisor gave to other guests during the variant (set by `variant`). */
  stealSeconds?: number;
}

export const uploadThroughput: Scenario = uploadThroughputOn('fs');

/**
 * The scenario on one storage driver. `s3`: the same uploads into an S3ObjectStore on
 * Ceph's radosgw on this machine (scripts/ceph-rgw.sh), against the same bytes put straight
 * into that store; the node:http + busboy and UPLOAD_HASH_THREADS variants are fs only.
 */
export function uploadThroughputOn(driver: BenchDriver): Scenario {
  const s3 = driver === 's3';
  return {
    name: s3 ? 'upload-throughput-s3' : 'upload-throughput',
    description: s3
      ? 'The upload-throughput scenario with STORAGE_DRIVER=s3: concurrent multipart uploads through the media-ingest API into ' +
        "S3 on Ceph's radosgw (one-node cluster on 127.0.0.1, memstore OSD), against putting the same bytes straight into the " +
        'same S3ObjectStore from the bench process (without and with SHA-256).'
      : 'Concurrent multipart uploads of generated files into an FsObjectStore on local disk: the media-ingest API ' +
        '(`POST /v1/libraries/default/files`) against writing the same bytes straight to the store (without and with ' +
        'the SHA-256 every upload needs), against a minimal node:http + busboy server using the same InspectStream and ' +
        'store, and against itself with the other choice of UPLOAD_HASH_THREADS (hashing on or off the event loop).',

    async run(): Promise<ScenarioResult> {
      // The OSD keeps objects in memory: smaller defaults on S3.
      const mib = envInt('BENCH_UPLOAD_MIB', s3 ? 64 : 256);
      const concurrency = envInt('BENCH_CONCURRENCY', s3 ? 8 : 16);
      const rounds = envInt('BENCH_ROUNDS', 3);
      const settleSeconds = envInt('BENCH_SETTLE_SECONDS', 5, 0);
      const size = mib * MiB;
      const totalMiB = mib * concurrency;

      const { dir: root, remove } = await benchTempDir('mi-bench-upload-');
      const rgw = s3 ? await startRgw(totalMiB * MiB * 1.5 + 512 * MiB) : undefined;
      try {
        // One variant's files exist at a time; ask for them plus 10 % and 1 GiB of headroom.
        const free = await fs.statfs(root);
        const need = totalMiB * MiB * 1.1 + 1024 * MiB;
        if (free.bavail * free.bsize < need) {
          throw new Error(`${os.tmpdir()} has ${gib(free.bavail * free.bsize)} GiB free; this run needs about ${gib(need)} GiB`);
        }

        const variant = async (name: string, round: number, fn: (p: Params) => Promise<Measured>): Promise<Measured> => {
          const dir = path.join(root, name);
          await fs.mkdir(dir);
          process.stdout.write(`   round ${round}/${rounds} ${name.padEnd(6)} ${concurrency} × ${mib} MiB … `);
          const bucket = `bench-${name.replace(/[^a-z]/g, '')}-${round}`;
          try {
            const steal0 = stealSeconds();
            const m = await fn({ size, concurrency, dir, settleMs: settleSeconds * 1000, ...(rgw ? { s3: { rgw, bucket } } : {}) });
            // Over the whole variant (settle and set-up included): an indicator, not a correction.
            m.stealSeconds = stealSeconds() - steal0;
            console.log(
              `${m.wallSeconds.toFixed(2)} s, ${(totalMiB / m.wallSeconds).toFixed(0)} MiB/s, steal ${m.stealSeconds.toFixed(1)} s`,
            );
            return m;
          } finally {
            if (rgw) await emptyStore(await rgwStore(rgw, bucket));
            await fs.rm(dir, { recursive: true, force: true });
            // Start the next variant with no write-back of this one's files still going on.
            execFileSync('sync');
          }
        };
        // The API runs compiled, as `npm run api` and the image run it.
        console.log('   npm run build (tsc -p tsconfig.build.json) …');
        execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
          cwd: repoRoot,
          stdio: 'inherit',
        });
        // Rounds interleave the variants, so drift of the machine (write-back, neighbours)
        // hits each of them alike.
        const runs = {
          direct: [] as Measured[],
          hashed: [] as Measured[],
          plain: [] as Measured[],
          otherHash: [] as Measured[],
          api: [] as Measured[],
        };
        for (let round = 1; round <= rounds; round++) {
          runs.direct.push(await variant('direct', round, runDirect));
          const hashed = await variant('direct+sha', round, runDirectHashed);
          const plain = s3 ? undefined : await variant('plain', round, runPlain);
          const otherHash = s3
            ? undefined
            : await variant('api-hash', round, (p) => runApi(p, { UPLOAD_HASH_THREADS: String(OTHER_HASH_THREADS) }));
          const api = await variant('api', round, (p) => runApi(p, {}));
          for (const [name, other] of [
            ['direct + SHA-256', hashed],
            ['the plain server', plain],
            [`the API with UPLOAD_HASH_THREADS=${OTHER_HASH_THREADS}`, otherHash],
          ] as const) {
            if (other?.checksums!.some((c, i) => c !== api.checksums![i])) {
              throw new Error(`the API and ${name} disagree on the SHA-256 of the same generated file`);
            }
          }
          runs.hashed.push(hashed);
          if (plain) runs.plain.push(plain);
          if (otherHash) runs.otherHash.push(otherHash);
          runs.api.push(api);
        }
        if (rgw)
          return s3Result(
            rgw,
            { mib, concurrency, rounds, settleSeconds, totalMiB },
            summarise(runs.direct),
            summarise(runs.hashed),
            summarise(runs.api),
            runs,
          );
        const direct = summarise(runs.direct);
        const hashed = summarise(runs.hashed);
        const plain = summarise(runs.plain);
        const otherHash = summarise(runs.otherHash);
        const api = summarise(runs.api);

        const cpuPerGiB = (m: Summary | Measured) => cpuPerGiBOf(totalMiB, m);
        const row = (name: string, role: VariantResult['role'], m: Summary) => variantRow(totalMiB, name, role, m, { cpuPerGiB: true });
        const checks: Check[] = [
          roundRatio('throughput api / direct', runs.api, runs.direct, { op: '>=', value: 0.8 }),
          roundRatio('throughput direct + SHA-256 / direct', runs.hashed, runs.direct),
          roundRatio('throughput api / direct + SHA-256', runs.api, runs.hashed),
          roundRatio('throughput api / node:http+busboy', runs.api, runs.plain, { op: '>=', value: 0.95 }),
          {
            name: 'CPU per GiB api / node:http+busboy',
            value: median(runs.api.map((m, i) => cpuPerGiB(m) / cpuPerGiB(runs.plain[i]!))),
            unit: '',
            target: { op: '<=', value: 1.1 },
          },
          roundRatio('throughput node:http+busboy / direct', runs.plain, runs.direct),
          roundRatio(`throughput api / api with UPLOAD_HASH_THREADS=${OTHER_HASH_THREADS}`, runs.api, runs.otherHash),
          {
            name: `CPU per GiB api / api with UPLOAD_HASH_THREADS=${OTHER_HASH_THREADS}`,
            value: median(runs.api.map((m, i) => cpuPerGiB(m) / cpuPerGiB(runs.otherHash[i]!))),
            unit: '',
          },
          {
            name: 'CPU per GiB direct / api',
            value: median(runs.api.map((m, i) => cpuPerGiB(runs.direct[i]!) / cpuPerGiB(m))),
            unit: '',
          },
          { name: 'API peak RSS (VmHWM)', value: api.server!.peakRssMiB, unit: 'MiB', digits: 0, target: { op: '<=', value: 200 } },
          { name: 'node:http+busboy peak RSS (VmHWM)', value: plain.server!.peakRssMiB, unit: 'MiB', digits: 0 },
        ];
        return {
          parameters: {
            BENCH_UPLOAD_MIB: mib,
            BENCH_CONCURRENCY: concurrency,
            BENCH_ROUNDS: rounds,
            BENCH_SETTLE_SECONDS: settleSeconds,
            'MiB per variant and round': totalMiB,
          },
          variants: [
            row('direct', 'baseline', direct),
            row('direct + SHA-256', 'baseline', hashed),
            row('node:http + busboy', 'baseline', plain),
            row(`API, UPLOAD_HASH_THREADS=${OTHER_HASH_THREADS}`, 'baseline', otherHash),
            row('media-ingest API', 'subject', api),
          ],
          checks,
          notes: [
            'Throughput = all bytes of all files / wall time from the first request to the last answer (MiB = 2^20 bytes); ' +
              'wall and throughput are medians over the rounds, the worst and best round are shown beside them. ' +
              `Each of the ${rounds} rounds runs direct, direct + SHA-256, node:http + busboy, the API with UPLOAD_HASH_THREADS=${OTHER_HASH_THREADS}, then the ` +
              'API, each server freshly started; the ' +
              'ratios are computed per round (throughput of A / throughput of B in the same round) and their median is judged, ' +
              'with the lowest and highest round in brackets; CPU figures are medians, peak RSS the highest of the rounds. After each ' +
              'variant its files are deleted and `sync` run, so no write-back of one variant runs into the next.',
            '"direct" is pure `FsObjectStore.put` of the generated stream from the bench process: no HTTP, no multipart, ' +
              'and deliberately no SHA-256 or sniffing, so it is the floor cost of getting the bytes into the store. ' +
              '"direct + SHA-256" is the same through InspectStream (count + SHA-256 + head, on the same hash threads as the ' +
              `API: ${HASH_THREADS}): the floor for anything that must know the checksum of what it stored, as every upload ` +
              'here must (de-duplication, integrity). Its ratio to "direct" bounds what any server can reach against ' +
              '"direct" on this machine. The plain server and the API pay InspectStream too, with the same hash threads.',
            `Files are generated lazily as ${CHUNK_BYTES / 1024} KiB slices of an 8 MiB random pool at varying offsets ` +
              '(different per file, never a whole file in memory); each HTTP upload is one multipart file part with an exact ' +
              'Content-Length, on its own connection, sent by `http.request` from the bench process.',
            `Clients and servers share the machine's ${os.availableParallelism()} cores. "bench CPU" is the bench process: ` +
              'the client for the HTTP variants, everything for "direct"; "server CPU" is user + system time of the server ' +
              'process during the uploads; "CPU per GiB" is both per GiB uploaded, which varies less than wall time from run ' +
              'to run. Peak RSS is VmHWM of the server process (the node process itself), read before stopping it: the API runs ' +
              `compiled (\`${apiCommand()}\`, as \`npm run api\` and the Docker image run it), the plain server through tsx.`,
            `The API runs as in production (\`npm run build\`, then \`${apiCommand()}\`, LOG_LEVEL=warn, UPLOAD_HASH_THREADS at its default for ${os.availableParallelism()} cores: ${HASH_THREADS})` +
              ' against its own redis-server (AOF off); no worker ' +
              "runs, the ingest jobs just queue. Every answer is checked (202, size; the API's and the plain server's SHA-256 " +
              'must agree) and so are the bytes on disk.',
            `Every variant idles ${settleSeconds} s (BENCH_SETTLE_SECONDS) right before its timed part, so all start from the ` +
              'same memory state. A VM with free page reporting (like the Firecracker VM this bench was written on) hands ' +
              'freed memory back to the host about 2 s after it is freed, and page-cache pages faulted back in cost much ' +
              'system time: there the same direct write ran at 750-1000 MiB/s after an idle pause but at 1100-2500 MiB/s ' +
              'right after the previous files were deleted, which favoured whichever variant started soonest after a delete.',
            'Why "api / direct" stays far below the issue\'s 0.8 here, and what is judged beside it: "direct" writes ' +
              "at about 1 CPU-second per GiB, and SHA-256 alone costs about as much (openssl's speed on these " +
              'cores is ~1 GB/s), so "direct + SHA-256 / direct" — no HTTP, no parsing — is already about 0.5; the HTTP ' +
              "variants add the client's sends and the server's receives and multipart parsing on the same 2 cores. No server " +
              'that must hash what it stores can reach 0.8 of "direct" on this machine. What the API itself costs shows against the ' +
              'node:http + busboy server doing the same work with the same pieces; memory is judged by peak RSS (≤ 200 MiB: ' +
              'nothing buffered).',
            '"steal" is CPU time the hypervisor gave to other guests during the variant (median over the rounds; /proc/stat, ' +
              'both cores together, set-up and settling included). Where it is more than a few seconds, neighbours competed for ' +
              'the cores and the figures of that variant vary accordingly; on the VM this ran on, user CPU of the same server ' +
              'doing the same work varied by up to ±40 % from run to run.',
            'Every variant writes through FsObjectStore.put, which fsyncs each file before renaming it into place (and its ' +
              "folder after): a put, and so an upload's answer, waits until the bytes are on disk, in all variants alike.",
          ],
        };
      } finally {
        await rgw?.stop();
        await remove();
      }
    },
  };
}

/** Figures of the s3 run: direct and direct + SHA-256 into the same S3ObjectStore, and the API. */
function s3Result(
  rgw: Rgw,
  p: { mib: number; concurrency: number; rounds: number; settleSeconds: number; totalMiB: number },
  direct: Summary,
  hashed: Summary,
  api: Summary,
  runs: { direct: Measured[]; hashed: Measured[]; api: Measured[] },
): ScenarioResult {
  const row = (name: string, role: VariantResult['role'], m: Summary) => variantRow(p.totalMiB, name, role, m);
  return {
    parameters: {
      BENCH_DRIVER: 's3',
      BENCH_UPLOAD_MIB: p.mib,
      BENCH_CONCURRENCY: p.concurrency,
      BENCH_ROUNDS: p.rounds,
      BENCH_SETTLE_SECONDS: p.settleSeconds,
      'MiB per variant and round': p.totalMiB,
    },
    variants: [
      row('direct (S3ObjectStore.put)', 'baseline', direct),
      row('direct + SHA-256', 'baseline', hashed),
      row('media-ingest API, STORAGE_DRIVER=s3', 'subject', api),
    ],
    checks: [
      roundRatio('throughput api / direct', runs.api, runs.direct),
      roundRatio('throughput api / direct + SHA-256', runs.api, runs.hashed),
      { name: 'API peak RSS (VmHWM)', value: api.server!.peakRssMiB, unit: 'MiB', digits: 0, target: { op: '<=', value: 200 } },
      { name: 'radosgw + OSD + monitor peak RSS (VmHWM, together)', value: rgw.peakRssMiB(), unit: 'MiB', digits: 0 },
    ],
    notes: [
      'Throughput = all bytes of all files / wall time from the first request to the last answer; medians over the rounds, ratios per round ' +
        'and their median judged (lowest and highest round in brackets). Each round runs direct, direct + SHA-256, then the API, each into a bucket of its own that is emptied afterwards.',
      'The S3 server is a one-node Ceph 16 cluster started by scripts/ceph-rgw.sh: radosgw (beast frontend) in front of one OSD whose objects live in memory ' +
        "(memstore), so the store costs no disk writes, only the gateway's and the OSD's CPU on the same 2 cores as client and API. " +
        'Every put is explicit multipart in parts of S3_PART_SIZE (5 MiB), at most one part in flight per upload, as in production.',
      "The API's peak RSS is judged against the same 200 MiB as on fs. On S3 each upload holds up to three parts of S3_PART_SIZE at a " +
        'moment (one uploading, one filling, one being joined): bounded per upload, not per byte, so the peak grows with BENCH_CONCURRENCY × 15 MiB.',
      "The API runs compiled as in production (LOG_LEVEL=warn, its own redis-server, no worker). Every answer is checked (202, size; SHA-256 equal to direct + SHA-256) and so is the bucket's total.",
    ],
  };
}

/** Client and server CPU together per GiB: on a machine where they share the cores, this decides throughput. */
function cpuPerGiBOf(totalMiB: number, m: Summary | Measured): number {
  return (m.benchCpuSeconds + (m.server?.cpuSeconds ?? 0)) / (totalMiB / 1024);
}

/** One variant's row: throughput of its rounds over `totalMiB` each, CPU and memory (CPU per GiB where the run judges it). */
function variantRow(
  totalMiB: number,
  name: string,
  role: VariantResult['role'],
  m: Summary,
  opts: { cpuPerGiB?: boolean } = {},
): VariantResult {
  return {
    name,
    role,
    figures: {
      wall: { value: m.wallSeconds, unit: 's', digits: 2 },
      throughput: { value: totalMiB / m.wallSeconds, unit: 'MiB/s', digits: 0 },
      'worst round': { value: totalMiB / m.slowestWallSeconds, unit: 'MiB/s', digits: 0 },
      'best round': { value: totalMiB / m.fastestWallSeconds, unit: 'MiB/s', digits: 0 },
      'bench CPU': { value: m.benchCpuSeconds, unit: 's', digits: 1 },
      ...(m.server ? { 'server CPU': { value: m.server.cpuSeconds, unit: 's', digits: 1 } } : {}),
      ...(opts.cpuPerGiB ? { 'CPU per GiB': { value: cpuPerGiBOf(totalMiB, m), unit: 's', digits: 2 } } : {}),
      ...(m.server ? { 'server peak RSS': { value: m.server.peakRssMiB, unit: 'MiB', digits: 0 } } : {}),
      steal: { value: m.stealSeconds, unit: 's', digits: 1 },
    },
  };
}

export interface Summary {
  /** Median over the rounds; CPU likewise. */
  wallSeconds: number;
  fastestWallSeconds: number;
  slowestWallSeconds: number;
  benchCpuSeconds: number;
  /** Median over the rounds. */
  stealSeconds: number;
  /** Median CPU; peak RSS is the highest of all rounds. */
  server?: { cpuSeconds: number; peakRssMiB: number };
}

export function summarise(runs: Measured[]): Summary {
  const walls = runs.map((m) => m.wallSeconds);
  const servers = runs.flatMap((m) => (m.server ? [m.server] : []));
  return {
    wallSeconds: median(walls),
    fastestWallSeconds: Math.min(...walls),
    slowestWallSeconds: Math.max(...walls),
    benchCpuSeconds: median(runs.map((m) => m.benchCpuSeconds)),
    stealSeconds: median(runs.map((m) => m.stealSeconds ?? 0)),
    ...(servers.length
      ? { server: { cpuSeconds: median(servers.map((s) => s.cpuSeconds)), peakRssMiB: Math.max(...servers.map((s) => s.peakRssMiB)) } }
      : {}),
  };
}

/** Baseline: the same bytes straight into the store, from this process. */
async function runDirect({ size, concurrency, dir, settleMs, s3 }: Params): Promise<Measured> {
  const store = s3 ? await rgwStore(s3.rgw, s3.bucket) : new FsObjectStore(dir);
  await sleep(settleMs);
  const cpu0 = selfCpuSeconds();
  const t0 = performance.now();
  const puts = await Promise.all(range(concurrency).map((i) => store.put(`bench/${i}.bin`, fileStream(size, i))));
  const wallSeconds = (performance.now() - t0) / 1000;
  const benchCpuSeconds = selfCpuSeconds() - cpu0;
  for (const p of puts) if (p.size !== size) throw new Error(`direct: stored ${p.size} bytes under ${p.key}, expected ${size}`);
  await expectStored({ dir, s3 }, size * concurrency);
  return { wallSeconds, benchCpuSeconds };
}

/** Baseline: the same bytes into the store through InspectStream (SHA-256 on the API's hash threads), from this process. */
export async function runDirectHashed({ size, concurrency, dir, settleMs, s3 }: Params): Promise<Measured> {
  const store = s3 ? await rgwStore(s3.rgw, s3.bucket) : new FsObjectStore(dir);
  const pool = new HashPool(HASH_THREADS);
  try {
    await sleep(settleMs);
    const cpu0 = selfCpuSeconds();
    const t0 = performance.now();
    const checksums = await Promise.all(
      range(concurrency).map(async (i) => {
        const inspect = new InspectStream(Number.MAX_SAFE_INTEGER, pool);
        const source = fileStream(size, i);
        source.on('error', (err) => inspect.destroy(err));
        const put = await store.put(`bench/${i}.bin`, source.pipe(inspect));
        if (put.size !== size || inspect.bytes !== size)
          throw new Error(`direct + SHA-256: stored ${put.size} bytes under ${put.key}, expected ${size}`);
        return inspect.sha256();
      }),
    );
    const wallSeconds = (performance.now() - t0) / 1000;
    const benchCpuSeconds = selfCpuSeconds() - cpu0;
    await expectStored({ dir, s3 }, size * concurrency);
    return { wallSeconds, benchCpuSeconds, checksums };
  } finally {
    await pool.close();
  }
}

/** Baseline: bench/servers/plain-busboy.ts in a child process. */
export async function runPlain({ size, concurrency, dir, settleMs }: Params): Promise<Measured> {
  const port = await freePort();
  const child = spawnTs('bench/servers/plain-busboy.ts', {
    env: { PORT: String(port), BENCH_STORE_DIR: dir, BENCH_HASH_THREADS: String(HASH_THREADS) },
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child);
    await sleep(settleMs);
    const m = await uploadAll(child, `http://127.0.0.1:${port}/upload`, {}, size, concurrency, (a) => {
      const files = (JSON.parse(a.body) as { files: { size: number; checksum: string }[] }).files;
      return { status: a.status === 202 && files.length === 1, size: files[0]?.size, checksum: files[0]?.checksum };
    });
    await expectBytesOnDisk(dir, size * concurrency);
    return m;
  } finally {
    await child.stop();
  }
}

/** Subject (and, with the other UPLOAD_HASH_THREADS, a baseline): the real API process with its own redis-server. */
export async function runApi({ size, concurrency, dir, settleMs, s3 }: Params, env: Record<string, string>): Promise<Measured> {
  const redis = await startEmbeddedRedis({ dir: path.join(dir, 'redis'), appendonly: false });
  let child: NodeChild | undefined;
  try {
    const port = await freePort();
    const dataDir = path.join(dir, 'data');
    child = spawnApi({
      env: {
        REDIS_URL: redis.url,
        API_KEYS: API_KEY,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: dataDir,
        STORAGE_DRIVER: 'fs',
        LOG_LEVEL: 'warn',
        MAX_UPLOAD_BYTES: String(size + MiB),
        ...(s3 ? { ...s3.rgw.env, S3_BUCKET: s3.bucket } : {}),
        ...env,
      },
      killWithBench: redis.proc.pid ? [redis.proc.pid] : [],
    });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, child);
    const headers = { Authorization: `Bearer ${API_KEY}` };
    await sleep(settleMs);
    const m = await uploadAll(child, `http://127.0.0.1:${port}/v1/libraries/default/files`, headers, size, concurrency, (a) => {
      const resources = (JSON.parse(a.body) as { resources?: { size: number; checksum: string }[] }).resources ?? [];
      return { status: a.status === 202 && resources.length === 1, size: resources[0]?.size, checksum: resources[0]?.checksum };
    });
    // The API also writes a small JSON copy of each record beside the original.
    await expectStored({ dir: path.join(dataDir, 'objects'), s3 }, size * concurrency, (f) => !f.endsWith('.json'));
    return m;
  } finally {
    await child?.stop();
    await redis.stop();
  }
}

interface Verdict {
  status: boolean;
  size: number | undefined;
  checksum: string | undefined;
}

/** `concurrency` uploads at once; times them, reads the server's CPU and peak RSS, checks every answer. */
async function uploadAll(
  server: NodeChild,
  url: string,
  headers: Record<string, string>,
  size: number,
  concurrency: number,
  judge: (a: UploadAnswer) => Verdict,
): Promise<Measured> {
  const server0 = procStats(server.pid);
  const cpu0 = selfCpuSeconds();
  const t0 = performance.now();
  const answers = await Promise.all(
    range(concurrency).map((i) => uploadMultipart(url, { size, seed: i, fileName: `bench-${i}.bin`, headers })),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  const benchCpuSeconds = selfCpuSeconds() - cpu0;
  const server1 = procStats(server.pid);

  const checksums = answers.map((a, i) => {
    let v: Verdict;
    try {
      v = judge(a);
    } catch {
      v = { status: false, size: undefined, checksum: undefined };
    }
    if (!v.status || v.size !== size || !v.checksum) {
      throw new Error(
        `upload ${i} to ${url}: HTTP ${a.status}, expected 202 with size ${size}: ${a.body.slice(0, 500)}\n${server.output()}`,
      );
    }
    return v.checksum;
  });
  return {
    wallSeconds,
    benchCpuSeconds,
    server: { cpuSeconds: server1.cpuSeconds - server0.cpuSeconds, peakRssMiB: server1.peakRssMiB },
    checksums,
  };
}

/** Sums the sizes of what the variant stored (files under `dir`, or objects in its bucket) and insists on `expected`. */
async function expectStored(
  where: { dir: string; s3?: Params['s3'] | undefined },
  expected: number,
  include: (file: string) => boolean = () => true,
): Promise<void> {
  if (!where.s3) return expectBytesOnDisk(where.dir, expected, include);
  let total = 0;
  const store = await rgwStore(where.s3.rgw, where.s3.bucket);
  for await (const o of store.list('')) if (include(o.key)) total += o.size;
  for await (const u of store.incompleteUploads('')) throw new Error(`incomplete multipart upload left in the bucket: ${u.key}`);
  if (total !== expected) throw new Error(`bucket ${where.s3.bucket} holds ${total} bytes of objects, expected ${expected}`);
}

/** Sums the sizes of the files under `dir` and insists on `expected`. */
async function expectBytesOnDisk(dir: string, expected: number, include: (file: string) => boolean = () => true): Promise<void> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !include(entry.name)) continue;
    if (entry.name.includes('.incomplete-')) throw new Error(`unfinished write left in the store: ${entry.name}`);
    total += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
  }
  if (total !== expected) throw new Error(`${dir} holds ${total} bytes of files, expected ${expected}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}
