import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { fileChunks, uploadMultipart, type UploadAnswer } from '../lib/payload.js';
import {
  benchTempDir,
  procStats,
  repoRoot,
  selfCpuSeconds,
  spawnApi,
  apiCommand,
  stealSeconds,
  waitForHttp,
  type NodeChild,
} from '../lib/proc.js';
import { startRgw, type Rgw } from '../lib/rgw.js';
import type { Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt, median, roundRatio } from '../lib/params.js';

const MiB = 1024 * 1024;
const API_KEY = 'bench-key-0123456789abcdef';
const AUTH = { Authorization: `Bearer ${API_KEY}` };

interface Measured {
  wallSeconds: number;
  benchCpuSeconds: number;
  server: { cpuSeconds: number; peakRssMiB: number };
  checksums: string[];
  stealSeconds?: number;
}

type Send = (base: string, size: number, seed: number) => Promise<number>;

export const tusThroughput: Scenario = tusThroughputOn('fs');

/** The scenario on one storage driver; `s3` (`tus-throughput-s3`) uploads into Ceph's radosgw on this machine. */
export function tusThroughputOn(driver: 'fs' | 's3'): Scenario {
  return {
    name: driver === 's3' ? 'tus-throughput-s3' : 'tus-throughput',
    description:
      `Concurrent uploads of generated files into the API ${driver === 's3' ? 'on STORAGE_DRIVER=s3 (Ceph radosgw, scripts/ceph-rgw.sh)' : 'on local disk'}: ` +
      'tus (`POST /v1/libraries/default/tus`, then PATCH) ' +
      'against the multipart route (`POST /v1/libraries/default/files`) of the same API build, and tus in 64 MiB PATCHes ' +
      '(as behind a proxy that caps request bodies).',

    async run(): Promise<ScenarioResult> {
      const mib = envInt('BENCH_UPLOAD_MIB', 256);
      const concurrency = envInt('BENCH_CONCURRENCY', 16);
      const rounds = envInt('BENCH_ROUNDS', 3);
      const settleSeconds = envInt('BENCH_SETTLE_SECONDS', 5, 0);
      const patchMiB = 64;
      const storage = driver;
      const size = mib * MiB;
      const totalMiB = mib * concurrency;

      const { dir: root, remove } = await benchTempDir('mi-bench-tus-');
      try {
        const free = await fs.statfs(root);
        if (free.bavail * free.bsize < totalMiB * MiB * 1.1 + 1024 * MiB)
          throw new Error(`${os.tmpdir()} has too little free space for ${totalMiB} MiB of uploads`);
        console.log('   npm run build (tsc -p tsconfig.build.json) …');
        execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
          cwd: repoRoot,
          stdio: 'inherit',
        });

        const variant = async (name: string, round: number, send: Send): Promise<Measured> => {
          const dir = path.join(root, name.replace(/\W+/g, '-'));
          await fs.mkdir(dir);
          process.stdout.write(`   round ${round}/${rounds} ${name.padEnd(14)} ${concurrency} × ${mib} MiB … `);
          try {
            const steal0 = stealSeconds();
            const m = await runApi(dir, storage, size, concurrency, settleSeconds * 1000, send);
            m.stealSeconds = stealSeconds() - steal0;
            console.log(
              `${m.wallSeconds.toFixed(2)} s, ${(totalMiB / m.wallSeconds).toFixed(0)} MiB/s, RSS ${m.server.peakRssMiB.toFixed(0)} MiB`,
            );
            return m;
          } finally {
            await fs.rm(dir, { recursive: true, force: true });
            execFileSync('sync');
          }
        };

        const runs = { multipart: [] as Measured[], chunked: [] as Measured[], tus: [] as Measured[] };
        for (let round = 1; round <= rounds; round++) {
          const multipart = await variant('multipart', round, sendMultipart);
          const chunked = await variant(`tus ${patchMiB} MiB`, round, (base, s, seed) => sendTus(base, s, seed, patchMiB * MiB));
          const tus = await variant('tus', round, (base, s, seed) => sendTus(base, s, seed, s));
          for (const other of [chunked, tus]) {
            if (other.checksums.some((c, i) => c !== (multipart ?? tus).checksums[i]))
              throw new Error('two variants disagree on the SHA-256 of the same generated file');
          }
          if (multipart) runs.multipart.push(multipart);
          runs.chunked.push(chunked);
          runs.tus.push(tus);
        }

        const row = (name: string, role: VariantResult['role'], ms: Measured[]): VariantResult => {
          const wall = median(ms.map((m) => m.wallSeconds));
          return {
            name,
            role,
            figures: {
              wall: { value: wall, unit: 's', digits: 2 },
              throughput: { value: totalMiB / wall, unit: 'MiB/s', digits: 0 },
              'worst round': { value: totalMiB / Math.max(...ms.map((m) => m.wallSeconds)), unit: 'MiB/s', digits: 0 },
              'server CPU': { value: median(ms.map((m) => m.server.cpuSeconds)), unit: 's', digits: 1 },
              'bench CPU': { value: median(ms.map((m) => m.benchCpuSeconds)), unit: 's', digits: 1 },
              'server peak RSS': { value: Math.max(...ms.map((m) => m.server.peakRssMiB)), unit: 'MiB', digits: 0 },
              steal: { value: median(ms.map((m) => m.stealSeconds ?? 0)), unit: 's', digits: 1 },
            },
          };
        };
        return {
          parameters: {
            STORAGE_DRIVER: storage,
            BENCH_UPLOAD_MIB: mib,
            BENCH_CONCURRENCY: concurrency,
            BENCH_ROUNDS: rounds,
            BENCH_SETTLE_SECONDS: settleSeconds,
            'MiB per variant and round': totalMiB,
          },
          variants: [
            ...(runs.multipart.length ? [row('multipart route', 'baseline', runs.multipart)] : []),
            row(`tus, ${patchMiB} MiB PATCHes`, 'baseline', runs.chunked),
            row('tus, one PATCH', 'subject', runs.tus),
          ],
          checks: [
            ...(runs.multipart.length
              ? [
                  roundRatio('throughput tus / multipart', runs.tus, runs.multipart, { op: '>=', value: 0.9 }),
                  roundRatio(`throughput tus in ${patchMiB} MiB PATCHes / multipart`, runs.chunked, runs.multipart),
                ]
              : []),
            {
              name: 'API peak RSS (VmHWM), tus',
              value: Math.max(...runs.tus.map((m) => m.server.peakRssMiB), ...runs.chunked.map((m) => m.server.peakRssMiB)),
              unit: 'MiB',
              digits: 0,
              target: { op: '<=', value: 200 },
            },
          ],
          notes: [
            'Throughput = all bytes of all files / wall time from the first request to the last answer; medians over the rounds; ' +
              'ratios per round (same machine state), their median judged with the lowest and highest round in brackets. Each round ' +
              'runs multipart, tus in 64 MiB PATCHes, then tus in one PATCH, each against a freshly started API (compiled, ' +
              `\`${apiCommand()}\`, STORAGE_DRIVER=${storage}, LOG_LEVEL=warn) with its own redis-server; no worker runs.`,
            'tus: a creation POST (Upload-Length, Upload-Metadata filename), then PATCHes with an exact Content-Length, sent by ' +
              '`http.request` from the bench process like the multipart bodies (the same generated bytes: bench/lib/payload.ts). ' +
              "The SHA-256 of every file is read back from its resource and must equal the multipart route's.",
            'Peak RSS is VmHWM of the API process, the highest over both tus variants and all rounds. Both routes hash on the event ' +
              'loop here (UPLOAD_HASH_THREADS defaults to 0 on 2 cores; tus always hashes on it).',
            'On fs a tus upload is written to one file and renamed into place; fdatasync at each PATCH end (and every 64 MiB of a ' +
              'long PATCH) makes the acknowledged offset durable. tus-throughput-s3 runs the same against a Ceph radosgw on this machine (scripts/ceph-rgw.sh; ' +
              "its CPU competes with the API's: read its throughput as an indication, its peak RSS as the " +
              'figure): part buffers (S3_PART_SIZE, 5 MiB) come from one budget per process, at most 4 (20 MiB) across all ' +
              'uploads of both routes; tus holds one per upload while it fills and uploads a part, the multipart route up to two, ' +
              'and an upload that finds none free waits with its body paused.',
          ],
        };
      } finally {
        await remove();
      }
    },
  };
}

async function runApi(
  dir: string,
  storage: 'fs' | 's3',
  size: number,
  concurrency: number,
  settleMs: number,
  send: Send,
): Promise<Measured> {
  const redis = await startEmbeddedRedis({ dir: path.join(dir, 'redis'), appendonly: false });
  let child: NodeChild | undefined;
  let rgw: Rgw | undefined;
  try {
    const port = await freePort();
    let storageEnv: Record<string, string> = { STORAGE_DRIVER: 'fs' };
    if (storage === 's3') {
      // Objects live in the OSD's memory: room for every upload and some.
      rgw = await startRgw(size * concurrency * 1.5 + 512 * MiB);
      storageEnv = { ...rgw.env, S3_BUCKET: 'bench' };
    }
    child = spawnApi({
      env: {
        REDIS_URL: redis.url,
        API_KEYS: API_KEY,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: path.join(dir, 'data'),
        ...storageEnv,
        LOG_LEVEL: 'warn',
        MAX_UPLOAD_BYTES: String(size + MiB),
        RATE_LIMIT_PER_MINUTE: '0',
      },
      killWithBench: redis.proc.pid ? [redis.proc.pid] : [],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/readyz`, child);
    await new Promise((r) => setTimeout(r, settleMs));
    const server0 = procStats(child.pid);
    const cpu0 = selfCpuSeconds();
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: concurrency }, (_, i) => send(base, size, i)));
    const wallSeconds = (performance.now() - t0) / 1000;
    const benchCpuSeconds = selfCpuSeconds() - cpu0;
    const server1 = procStats(child.pid);
    const checksums: string[] = [];
    for (const id of ids) {
      const rec = (await (await fetch(`${base}/v1/resources/${id}`, { headers: AUTH })).json()) as { size: number; checksum: string };
      if (rec.size !== size) throw new Error(`resource ${id} has ${rec.size} bytes, expected ${size}`);
      checksums.push(rec.checksum);
    }
    return {
      wallSeconds,
      benchCpuSeconds,
      server: { cpuSeconds: server1.cpuSeconds - server0.cpuSeconds, peakRssMiB: server1.peakRssMiB },
      checksums,
    };
  } finally {
    await child?.stop();
    await rgw?.stop();
    await redis.stop();
  }
}

async function sendMultipart(base: string, size: number, seed: number): Promise<number> {
  const a = await uploadMultipart(`${base}/v1/libraries/default/files`, { size, seed, fileName: `bench-${seed}.bin`, headers: AUTH });
  if (a.status !== 202) throw new Error(`multipart upload ${seed}: HTTP ${a.status}: ${a.body.slice(0, 300)}`);
  return (JSON.parse(a.body) as { resources: { id: number }[] }).resources[0]!.id;
}

/** Creation, then PATCHes of `patchBytes` (a multiple of the 64 KiB generated chunks). */
async function sendTus(base: string, size: number, seed: number, patchBytes: number): Promise<number> {
  const created = await request(`${base}/v1/libraries/default/tus`, 'POST', {
    'Tus-Resumable': '1.0.0',
    'Upload-Length': String(size),
    'Upload-Metadata': `filename ${Buffer.from(`bench-${seed}.bin`).toString('base64')}`,
  });
  if (created.status !== 201) throw new Error(`tus creation ${seed}: HTTP ${created.status}: ${created.body.slice(0, 300)}`);
  const url = new URL(created.headers.location!, base).href;
  const chunks = fileChunks(size, seed);
  let offset = 0;
  let last: Answer | undefined;
  while (offset < size) {
    const n = Math.min(patchBytes, size - offset);
    let taken = 0;
    function* slice(): Generator<Buffer> {
      while (taken < n) {
        const c = chunks.next().value as Buffer;
        taken += c.length;
        yield c;
      }
    }
    last = await request(
      url,
      'PATCH',
      {
        'Tus-Resumable': '1.0.0',
        'Upload-Offset': String(offset),
        'Content-Type': 'application/offset+octet-stream',
        'Content-Length': String(n),
      },
      Readable.from(slice(), { objectMode: false }),
    );
    if (last.status !== 204) throw new Error(`tus PATCH ${seed} at ${offset}: HTTP ${last.status}: ${last.body.slice(0, 300)}`);
    offset += n;
  }
  return Number(last!.headers['x-resource-id']);
}

interface Answer extends UploadAnswer {
  headers: http.IncomingHttpHeaders;
}

async function request(url: string, method: string, headers: Record<string, string>, body?: Readable): Promise<Answer> {
  const req = http.request(url, { method, agent: false, headers: { ...AUTH, ...headers } });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text = (text + d).slice(0, 64 * 1024)));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      res.once('error', reject);
    });
  });
  answer.catch(() => undefined);
  if (!body) req.end();
  else {
    try {
      await pipeline(body, req);
    } catch (err) {
      // The server may answer (and hang up) before taking the whole body: prefer its answer.
      const early = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(r, 1000, undefined))]).catch(() => undefined);
      if (early) return early;
      throw err;
    }
  }
  return answer;
}
