import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { openQueue, type IngestQueue } from '../../shared/jobs/queue-table.js';
import { benchTempDir, repoRoot, spawnTs, waitForHttp } from '../lib/proc.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { envInt, median } from '../lib/params.js';

const API_KEY = 'bench-key-0123456789abcdef';

/**
 * What a user would otherwise write: one curl per file, N at a time with `xargs -P`,
 * against the `media-ingest upload` CLI with `--concurrency N`, on the same server and
 * the same files. Plus the CLI run again over the same folder — the resume case, where
 * every file is found by its checksum and nothing is sent.
 */
export const cliVsCurl: Scenario = {
  name: 'cli-vs-curl',
  description:
    'Uploading a folder of small files: `media-ingest upload -c N` against a `find | xargs -P N curl -F file=@…` loop on the same API, ' +
    'and the CLI re-run over the same folder (everything already there).',

  async run(): Promise<ScenarioResult> {
    const files = envInt('BENCH_CLI_FILES', 2000);
    const bytes = envInt('BENCH_CLI_FILE_BYTES', 8192);
    const concurrency = envInt('BENCH_CONCURRENCY', 8);
    const rounds = envInt('BENCH_ROUNDS', 3);

    const { dir: root, remove } = await benchTempDir('mi-bench-cli-');
    const redis = await startEmbeddedRedis({ dir: path.join(root, 'redis'), appendonly: false });
    const port = await freePort();
    const env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: path.join(root, 'data'),
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'bench',
      API_KEYS: API_KEY,
      LOG_LEVEL: 'warn',
      // Thousands of requests a minute from one key is the point here.
      RATE_LIMIT_PER_MINUTE: '0',
      WORKER_CONCURRENCY: '2',
      WORKER_METRICS_PORT: '0',
    };
    const api = spawnTs('api/main.ts', { env, killWithBench: [redis.proc.pid!] });
    // A worker, because a re-run finds files by the checksums their ingest jobs claimed.
    // MALLOC_ARENA_MAX set: worker/allocator.ts then does not restart the worker under a
    // new pid, which the bench's watchdog would take for an orphan (and kill Redis with it).
    const worker = spawnTs('worker/main.ts', { env: { ...env, MALLOC_ARENA_MAX: '2' }, killWithBench: [redis.proc.pid!] });
    const base = `http://127.0.0.1:${port}`;
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = openQueue('ingest', connection, 'bench');
    try {
      await waitForHttp(`${base}/healthz`, api);
      const dir = path.join(root, 'files');
      for (let d = 0; d < Math.ceil(files / 500); d++) await fs.mkdir(path.join(dir, `d${d}`), { recursive: true });
      for (let i = 0; i < files; i++) await fs.writeFile(path.join(dir, `d${Math.floor(i / 500)}`, `f${i}.bin`), randomBytes(bytes));

      const curl: number[] = [];
      const cli: number[] = [];
      const rerun: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        // A fresh library per variant and round: the same bytes must count as new for each.
        const curlLib = await createLibrary(base, `curl-r${round}`);
        const cliLib = await createLibrary(base, `cli-r${round}`);
        const runCurl = async () => {
          await settle(queue);
          curl.push(await timed(() => curlLoop(dir, `${base}/v1/libraries/${curlLib}/files`, concurrency)));
          await expectCount(base, curlLib, files);
          process.stdout.write(`curl ${curl.at(-1)!.toFixed(2)} s; `);
        };
        const runCliUpload = async () => {
          await settle(queue);
          cli.push(
            await timed(() =>
              runCli(['upload', dir, '--library', cliLib, '-c', String(concurrency), '--no-exif', '--json'], base, files, 'uploaded'),
            ),
          );
          await expectCount(base, cliLib, files);
          process.stdout.write(`cli ${cli.at(-1)!.toFixed(2)} s; `);
        };
        process.stdout.write(`   round ${round}/${rounds}: `);
        // Alternate which goes first: the worker is still busy with the first one's jobs while the second runs.
        if (round % 2) {
          await runCurl();
          await runCliUpload();
        } else {
          await runCliUpload();
          await runCurl();
        }
        await settle(queue);
        process.stdout.write('cli re-run … ');
        rerun.push(
          await timed(() => runCli(['upload', dir, '--library', cliLib, '-c', String(concurrency), '--json'], base, files, 'skipped')),
        );
        await expectCount(base, cliLib, files);
        console.log(`${rerun.at(-1)!.toFixed(2)} s`);
      }
      const c = median(curl);
      const m = median(cli);
      const r = median(rerun);
      const perRound = curl.map((t, i) => t / cli[i]!);
      const row = (name: string, role: 'baseline' | 'subject', t: number) => ({
        name,
        role,
        figures: { wall: { value: t, unit: 's', digits: 2 }, rate: { value: files / t, unit: 'files/s', digits: 0 } },
      });
      return {
        parameters: { files, 'bytes per file': bytes, concurrency, rounds },
        variants: [
          row(`curl per file, xargs -P ${concurrency}`, 'baseline', c),
          row(`media-ingest upload -c ${concurrency}`, 'subject', m),
          row('media-ingest upload, run again (all skipped)', 'subject', r),
        ],
        checks: [
          {
            name: 'curl loop wall / CLI wall',
            value: median(perRound),
            unit: '×',
            digits: 2,
            spread: [Math.min(...perRound), Math.max(...perRound)],
            target: { op: '>=', value: 1 },
          },
          { name: 'curl loop wall / CLI re-run wall', value: c / r, unit: '×', digits: 1 },
        ],
        notes: [
          'Medians over the rounds; the spread is the lowest and highest per-round ratio. Rounds interleave the variants.',
          'The CLI hashes every file locally and asks the server which checksums exist (POST /v1/checksums) before uploading; the curl loop does neither, so the CLI does strictly more work per file and still has to win on connection reuse and no process per file.',
          "Wall times include the CLI's own start-up (node + tsx, about a second) and curl's process per file.",
          'The API and one worker (WORKER_CONCURRENCY=2) run as separate processes; both variants upload with no_exif so ingest jobs are cheap, the bench waits for an empty ingest queue before each timed run, and the order of curl and CLI alternates per round. The re-run needs the worker: it finds files by the checksums their ingest jobs claimed.',
          'Every variant is checked to end with exactly the expected resource count (curl: every answer 202; CLI: its summary).',
        ],
      };
    } finally {
      await queue.close();
      connection.disconnect();
      await worker.stop();
      await api.stop();
      await redis.stop();
      await remove();
    }
  },
};

async function createLibrary(base: string, name: string): Promise<string> {
  // A 503 (Redis busy on a loaded machine) is worth a few more tries; anything else is a bug.
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}/v1/libraries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (res.status === 201) return name;
    if (res.status !== 503 || attempt >= 5) throw new Error(`creating library ${name}: HTTP ${res.status} ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Waits until the worker has processed every queued upload, so each timed run starts on a quiet machine. */
async function settle(queue: IngestQueue): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(counts).every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`the worker did not drain the ingest queue within 10 minutes: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function expectCount(base: string, lib: string, n: number): Promise<void> {
  const res = await fetch(`${base}/v1/libraries/${lib}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  const body = (await res.json()) as { resourceCount: number };
  if (body.resourceCount !== n) throw new Error(`library ${lib} holds ${body.resourceCount} resources, expected ${n}`);
}

/** `find … -print0 | xargs -0 -P N -n 1 curl …`: what a shell user writes. Fails unless every upload answered 202. */
async function curlLoop(dir: string, url: string, concurrency: number): Promise<void> {
  const script =
    `find "$DIR" -type f -print0 | xargs -0 -P ${concurrency} -I{} ` +
    `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $KEY" -F no_exif=1 -F 'file=@{}' "$URL"`;
  const out = await exec('sh', ['-c', script], { DIR: dir, URL: url, KEY: API_KEY });
  const codes = out.trim().split('\n');
  const bad = codes.filter((c) => c !== '202');
  if (bad.length) throw new Error(`curl loop: ${bad.length} uploads did not answer 202 (first: ${bad[0]})`);
}

async function runCli(args: string[], base: string, files: number, expect: 'uploaded' | 'skipped'): Promise<void> {
  const out = await exec(process.execPath, [path.join(repoRoot, 'cli/bin.js'), ...args], {
    MEDIA_INGEST_URL: base,
    MEDIA_INGEST_KEY: API_KEY,
  });
  const summary = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
  if (summary[expect] !== files || summary.failed !== 0)
    throw new Error(`CLI: expected ${files} ${expect}, got ${JSON.stringify(summary)}`);
}

function exec(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}
