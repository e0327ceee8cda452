import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../shared/embedded-redis.js';
import { defaultHashThreads } from '../../shared/config.js';
import { uploadMultipart } from '../lib/payload.js';
import { benchTempDir, procStats, repoRoot, selfCpuSeconds, spawnTs, stealSeconds, waitForHttp } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt, median } from '../lib/params.js';
import { gib, runApi, runDirectHashed, runPlain, summarise, type Measured, type Params, type Summary } from './upload-throughput.js';

const MiB = 1024 * 1024;
const HASH_THREADS = defaultHashThreads(os.availableParallelism());

/**
 * One large upload on one connection: where concurrency cannot hide a stage that waits
 * for another (the socket, the parser, the hash, the disk), the pipeline's hand-offs
 * show. The API against the same generated stream hashed and stored from the bench
 * process, with the node:http + busboy server and a receive-only server beside them.
 */
export const uploadSingle: Scenario = {
  name: 'upload-single',
  description:
    'One large multipart upload (4 GiB by default) on one connection into an FsObjectStore: the media-ingest API against ' +
    'the same generated stream put through InspectStream (SHA-256) into the same store from the bench process, with the ' +
    'node:http + busboy server doing the same work and a node:http server that only receives (the transport ceiling) beside them.',

  async run(): Promise<ScenarioResult> {
    const sizeGiB = envInt('BENCH_SINGLE_GIB', 4);
    const rounds = envInt('BENCH_ROUNDS', 3);
    const settleSeconds = envInt('BENCH_SETTLE_SECONDS', 5, 0);
    const size = sizeGiB * 1024 * MiB;
    const parameters = { BENCH_SINGLE_GIB: sizeGiB, BENCH_ROUNDS: rounds, BENCH_SETTLE_SECONDS: settleSeconds };

    const { dir: root, remove } = await benchTempDir('mi-bench-single-');
    try {
      // One variant's file exists at a time (deleted after it): the file, 10 % and 1 GiB of headroom.
      const free = await fs.statfs(root);
      const need = size * 1.1 + 1024 * MiB;
      if (free.bavail * free.bsize < need) {
        return {
          parameters,
          variants: [],
          checks: [],
          notes: [
            `Skipped: ${os.tmpdir()} has ${gib(free.bavail * free.bsize)} GiB free and this run needs about ${gib(need)} GiB; ` +
              'free space there or set BENCH_SINGLE_GIB lower.',
          ],
        };
      }
      console.log('   npm run build (tsc -p tsconfig.build.json) …');
      execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: repoRoot,
        stdio: 'inherit',
      });

      const variant = async (name: string, round: number, fn: (p: Params) => Promise<Measured>): Promise<Measured> => {
        const dir = path.join(root, name);
        await fs.mkdir(dir);
        process.stdout.write(`   round ${round}/${rounds} ${name.padEnd(10)} 1 × ${sizeGiB} GiB … `);
        try {
          const steal0 = stealSeconds();
          const m = await fn({ size, concurrency: 1, dir, settleMs: settleSeconds * 1000 });
          m.stealSeconds = stealSeconds() - steal0;
          console.log(
            `${m.wallSeconds.toFixed(2)} s, ${(size / MiB / m.wallSeconds).toFixed(0)} MiB/s, steal ${m.stealSeconds.toFixed(1)} s`,
          );
          return m;
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
          execFileSync('sync');
        }
      };

      const runs = { hashed: [] as Measured[], receive: [] as Measured[], plain: [] as Measured[], api: [] as Measured[] };
      for (let round = 1; round <= rounds; round++) {
        const hashed = await variant('direct+sha', round, runDirectHashed);
        runs.receive.push(await variant('receive', round, (p) => runReceiveOnly(p)));
        const plain = await variant('plain', round, runPlain);
        const api = await variant('api', round, (p) => runApi(p, {}));
        for (const [name, other] of [
          ['direct + SHA-256', hashed],
          ['the plain server', plain],
        ] as const) {
          if (other.checksums![0] !== api.checksums![0]) throw new Error(`the API and ${name} disagree on the SHA-256 of the same stream`);
        }
        runs.hashed.push(hashed);
        runs.plain.push(plain);
        runs.api.push(api);
      }

      const totalGiB = size / (1024 * MiB);
      const cpuPerGiB = (m: Summary) => (m.benchCpuSeconds + (m.server?.cpuSeconds ?? 0)) / totalGiB;
      const row = (name: string, role: VariantResult['role'], m: Summary): VariantResult => ({
        name,
        role,
        figures: {
          wall: { value: m.wallSeconds, unit: 's', digits: 2 },
          throughput: { value: size / MiB / m.wallSeconds, unit: 'MiB/s', digits: 0 },
          'worst round': { value: size / MiB / m.slowestWallSeconds, unit: 'MiB/s', digits: 0 },
          'best round': { value: size / MiB / m.fastestWallSeconds, unit: 'MiB/s', digits: 0 },
          'bench CPU': { value: m.benchCpuSeconds, unit: 's', digits: 1 },
          ...(m.server ? { 'server CPU': { value: m.server.cpuSeconds, unit: 's', digits: 1 } } : {}),
          // How busy the server process was: 1.0 is one core for the whole upload.
          ...(m.server ? { 'server cores busy': { value: m.server.cpuSeconds / m.wallSeconds, unit: '', digits: 2 } } : {}),
          'CPU per GiB': { value: cpuPerGiB(m), unit: 's', digits: 2 },
          ...(m.server ? { 'server peak RSS': { value: m.server.peakRssMiB, unit: 'MiB', digits: 0 } } : {}),
          steal: { value: m.stealSeconds, unit: 's', digits: 1 },
        },
      });
      const ratio = (name: string, a: Measured[], b: Measured[], target?: Check['target']): Check => {
        const perRound = a.map((m, i) => b[i]!.wallSeconds / m.wallSeconds);
        return {
          name,
          value: median(perRound),
          spread: [Math.min(...perRound), Math.max(...perRound)],
          unit: '',
          ...(target ? { target } : {}),
        };
      };
      const hashed = summarise(runs.hashed);
      const api = summarise(runs.api);
      // The cores an upload can use on this machine, against the CPU it needs (client and server together).
      const cores = os.availableParallelism();
      return {
        parameters,
        variants: [
          row('direct + SHA-256 (one process)', 'baseline', hashed),
          row('node:http, receive only', 'baseline', summarise(runs.receive)),
          row('node:http + busboy', 'baseline', summarise(runs.plain)),
          row('media-ingest API', 'subject', api),
        ],
        checks: [
          ratio('throughput api / direct + SHA-256', runs.api, runs.hashed, { op: '>=', value: 0.8 }),
          ratio('throughput node:http+busboy / direct + SHA-256', runs.plain, runs.hashed),
          ratio('throughput node:http receive only / direct + SHA-256', runs.receive, runs.hashed),
          ratio('throughput api / node:http+busboy', runs.api, runs.plain),
          {
            name: `bound: api with all ${cores} cores busy / direct + SHA-256 (CPU per GiB of direct / of api, × ${cores})`,
            // (cores × GiB / CPU-seconds of the API's run) over (GiB / wall of direct + SHA-256), per round.
            value: median(runs.api.map((m, i) => (cores * runs.hashed[i]!.wallSeconds) / (m.benchCpuSeconds + m.server!.cpuSeconds))),
            unit: '',
            digits: 2,
          },
          { name: 'API peak RSS (VmHWM)', value: api.server!.peakRssMiB, unit: 'MiB', digits: 0, target: { op: '<=', value: 200 } },
        ],
        notes: [
          `Each of the ${rounds} rounds runs direct + SHA-256, the receive-only server, node:http + busboy, then the API, each ` +
            'server freshly started, on one file of BENCH_SINGLE_GIB GiB; ratios are per round (throughput of A / of B) and their ' +
            'median is judged, with the lowest and highest round in brackets. Throughput = bytes / wall time from the first ' +
            'byte sent to the answer, which every variant gives only after its fsync. After each variant its file is deleted ' +
            'and `sync` run; each variant idles BENCH_SETTLE_SECONDS first (see upload-throughput).',
          '"direct + SHA-256" is `FsObjectStore.put` of the generated stream through InspectStream (count, SHA-256, head) in ' +
            `the bench process, on the API's hash threads (UPLOAD_HASH_THREADS default for ${cores} cores: ${HASH_THREADS}): ` +
            "no socket, no client, no parser. The HTTP variants add the client's sends (the bench process, on the same cores), " +
            "the kernel's loopback copies and, except receive-only, busboy's parse: the receive-only server shows what one " +
            'connection carries here at all, and node:http + busboy what a server doing the same work without a framework reaches.',
          `"server cores busy" is server CPU / wall (1.0 = one core all along); "bound" is what the API's CPU per GiB (client and ` +
            `server) would allow with all ${cores} cores working on it and nothing else, over direct + SHA-256's throughput in the same round: ` +
            'where it is below the target, the target is out of reach on this machine whatever the pipeline overlaps.',
          'The API runs compiled with its own redis-server (AOF off), LOG_LEVEL=warn, no worker; the answers are checked (202, ' +
            'size, SHA-256 equal to direct + SHA-256) and so are the bytes on disk.',
        ],
      };
    } finally {
      await remove();
    }
  },
};

/** Ceiling: bench/servers/discard.ts, which reads the body and throws it away. */
async function runReceiveOnly({ size, settleMs }: Params): Promise<Measured> {
  const port = await freePort();
  const child = spawnTs('bench/servers/discard.ts', { env: { PORT: String(port) } });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child);
    await new Promise((r) => setTimeout(r, settleMs));
    const s0 = procStats(child.pid);
    const cpu0 = selfCpuSeconds();
    const t0 = performance.now();
    const a = await uploadMultipart(`http://127.0.0.1:${port}/`, { size, seed: 0, fileName: 'bench-0.bin' });
    const wallSeconds = (performance.now() - t0) / 1000;
    const benchCpuSeconds = selfCpuSeconds() - cpu0;
    const s1 = procStats(child.pid);
    const bytes = (JSON.parse(a.body) as { bytes: number }).bytes;
    if (a.status !== 202 || bytes < size) throw new Error(`receive-only: HTTP ${a.status}, ${bytes} bytes, expected at least ${size}`);
    return { wallSeconds, benchCpuSeconds, server: { cpuSeconds: s1.cpuSeconds - s0.cpuSeconds, peakRssMiB: s1.peakRssMiB } };
  } finally {
    await child.stop();
  }
}
