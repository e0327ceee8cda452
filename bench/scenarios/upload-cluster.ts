import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import { startRedisCluster } from '../../test/harness/redis-cluster.js';
import { uploadMultipart } from '../lib/payload.js';
import { benchTempDir, procStats, repoRoot, spawnApi, waitForHttp } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult } from '../scenario.js';
import { envInt, median } from '../lib/params.js';

const API_KEY = 'bench-key-0123456789abcdef';

interface Round {
  uploadsPerSecond: number;
  apiCpuSeconds: number;
}

/**
 * Upload throughput with the catalog and the queues on a 3-master Redis Cluster against
 * one Redis (issue 13: ≥ 0.9×). Small files, so the work per upload is mostly Redis
 * (record, index entries, checksum claim, ingest job) and not bytes: the case where the
 * cluster client's cost would show. No worker runs: what is measured is the API's side.
 */
export const uploadCluster: Scenario = {
  name: 'upload-cluster',
  description:
    'Uploads per second through the media-ingest API (`POST /v1/libraries/default/files`, small files, many at once) with REDIS_CLUSTER_NODES on a local 3-master Redis Cluster against REDIS_URL on one redis-server, rounds interleaved.',

  async run(): Promise<ScenarioResult> {
    const files = envInt('BENCH_FILES', 1_000);
    const kib = envInt('BENCH_FILE_KIB', 16);
    const concurrency = envInt('BENCH_CONCURRENCY', 16);
    const rounds = envInt('BENCH_ROUNDS', 3);
    const { dir: root, forget } = await benchTempDir('mi-bench-upcluster-');
    try {
      console.log('   npm run build (tsc -p tsconfig.build.json) …');
      execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: repoRoot,
        stdio: 'inherit',
      });
      const single: Round[] = [];
      const cluster: Round[] = [];
      for (let round = 1; round <= rounds; round++) {
        // Alternate which goes first, so a trend of the shared machine hits both alike.
        const order = round % 2 === 1 ? (['single', 'cluster'] as const) : (['cluster', 'single'] as const);
        for (const which of order) {
          const dir = path.join(root, `${which}-${round}`);
          await fs.mkdir(dir);
          process.stdout.write(`   round ${round}/${rounds} ${which.padEnd(7)} ${files} × ${kib} KiB, ${concurrency} at once … `);
          try {
            const r =
              which === 'single'
                ? await onSingle(dir, files, kib * 1024, concurrency)
                : await onCluster(dir, files, kib * 1024, concurrency);
            console.log(`${r.uploadsPerSecond.toFixed(0)} uploads/s`);
            (which === 'single' ? single : cluster).push(r);
          } finally {
            await fs.rm(dir, { recursive: true, force: true });
          }
        }
      }
      const perRound = cluster.map((c, i) => c.uploadsPerSecond / single[i]!.uploadsPerSecond);
      const row = (rs: Round[]) => ({
        'uploads/s': { value: median(rs.map((r) => r.uploadsPerSecond)), unit: '/s', digits: 0 },
        'worst round': { value: Math.min(...rs.map((r) => r.uploadsPerSecond)), unit: '/s', digits: 0 },
        'best round': { value: Math.max(...rs.map((r) => r.uploadsPerSecond)), unit: '/s', digits: 0 },
        'API CPU per 1,000 uploads': { value: median(rs.map((r) => (r.apiCpuSeconds / files) * 1000)), unit: 's', digits: 2 },
      });
      const checks: Check[] = [
        {
          name: 'uploads/s cluster / one Redis (per round, median)',
          value: median(perRound),
          spread: [Math.min(...perRound), Math.max(...perRound)],
          unit: '×',
          digits: 2,
          target: { op: '>=', value: 0.9 },
        },
      ];
      return {
        parameters: { BENCH_FILES: files, BENCH_FILE_KIB: kib, BENCH_CONCURRENCY: concurrency, BENCH_ROUNDS: rounds },
        variants: [
          { name: 'one redis-server (REDIS_URL)', role: 'baseline', figures: row(single) },
          { name: '3-master Redis Cluster (REDIS_CLUSTER_NODES)', role: 'subject', figures: row(cluster) },
        ],
        checks,
        notes: [
          'Each round starts both a fresh redis-server and a fresh 3-master cluster (test/harness/redis-cluster.ts: Debian redis-server, AOF off, loopback) and a fresh API process (compiled, LOG_LEVEL=warn, fs store) for each; the order alternates per round. Figures are medians over the rounds; the ratio is taken within each round and its median judged, lowest and highest round in brackets.',
          'Throughput = files / wall time from the first request to the last answer, each a multipart POST of one generated file on its own connection; every answer must be 202 with one resource. No worker runs, so the jobs stay queued: the figure is the API and Redis alone.',
          'All processes (client, API, the Redis servers) share the 2 cores of this machine with whatever else runs; a cluster means 3 redis-server processes instead of 1 competing for them.',
        ],
      };
    } finally {
      await fs.rm(root, { recursive: true, force: true });
      forget();
    }
  },
};

async function onSingle(dir: string, files: number, size: number, concurrency: number): Promise<Round> {
  const redis = await startEmbeddedRedis({ dir: path.join(dir, 'redis'), appendonly: false });
  try {
    return await runApi(dir, { REDIS_URL: redis.url }, redis.proc.pid ? [redis.proc.pid] : [], files, size, concurrency);
  } finally {
    await redis.stop();
  }
}

async function onCluster(dir: string, files: number, size: number, concurrency: number): Promise<Round> {
  const cluster = await startRedisCluster();
  try {
    return await runApi(
      dir,
      { REDIS_CLUSTER_NODES: cluster.seeds },
      cluster.nodes.flatMap((n) => (n.proc.pid ? [n.proc.pid] : [])),
      files,
      size,
      concurrency,
    );
  } finally {
    await cluster.stop();
  }
}

async function runApi(
  dir: string,
  redisEnv: Record<string, string>,
  killWithBench: number[],
  files: number,
  size: number,
  concurrency: number,
): Promise<Round> {
  const port = await freePort();
  const child = spawnApi({
    env: {
      ...redisEnv,
      API_KEYS: API_KEY,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: path.join(dir, 'data'),
      STORAGE_DRIVER: 'fs',
      LOG_LEVEL: 'warn',
    },
    killWithBench,
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, child);
    const url = `http://127.0.0.1:${port}/v1/libraries/default/files`;
    const headers = { Authorization: `Bearer ${API_KEY}` };
    // A few uploads first: connections, scripts loaded, JIT warm.
    for (let i = 0; i < concurrency; i++)
      await expectAccepted(await uploadMultipart(url, { size, seed: 1_000_000 + i, fileName: `warm-${i}.bin`, headers }));
    const cpu0 = procStats(child.pid).cpuSeconds;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < files; i = next++)
          await expectAccepted(await uploadMultipart(url, { size, seed: i, fileName: `bench-${i}.bin`, headers }));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { uploadsPerSecond: files / seconds, apiCpuSeconds: procStats(child.pid).cpuSeconds - cpu0 };
  } finally {
    await child.stop();
  }
}

async function expectAccepted(a: { status: number; body: string }): Promise<void> {
  const resources = (JSON.parse(a.body) as { resources?: unknown[] }).resources;
  if (a.status !== 202 || resources?.length !== 1) throw new Error(`upload answered ${a.status}: ${a.body.slice(0, 300)}`);
}
