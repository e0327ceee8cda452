import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../shared/embedded-redis.js';
import { photoJpeg, stageFiles, startStack, variantOf, waitReady } from '../lib/images.js';
import { procStats, removeOnExit, spawnTs, waitForHttp, type NodeChild } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';

interface Load {
  requests: number;
  seconds: number;
  serverCpuSeconds: number;
  p50ms: number;
  p99ms: number;
}

export const imageServing: Scenario = {
  name: 'image-serving',
  description:
    'Serving one stored rendition (the "small" WebP of a photo) over keep-alive HTTP: `GET /image/480x480/{id}.webp` of the ' +
    'media-ingest API against a plain node:http static-file server (stat + createReadStream) on the same bytes.',

  async run(): Promise<ScenarioResult> {
    const connections = envInt('BENCH_CONNECTIONS', 16);
    const seconds = envInt('BENCH_SECONDS', 5);
    const rounds = envInt('BENCH_ROUNDS', 2);
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-bench-serving-'));
    const forget = removeOnExit(root);
    const stack = await startStack(root, { worker: { jemalloc: true }, api: true });
    let plain: NodeChild | undefined;
    try {
      // One photo, public (how pages embed images), pre-rendered by the worker.
      const photo = path.join(root, 'photo.jpg');
      await fs.writeFile(photo, variantOf(await photoJpeg(3000, 2000), 1));
      const staged = await stageFiles(stack, [photo], 'public');
      const [rec] = await waitReady(stack, (await staged.commit()).map((r) => r.id));
      await stack.worker!.stop();
      const small = rec!.renditions.find((r) => r.name === 'small')!;
      const objects = path.join(stack.config.dataDir, 'objects');
      const key = (await listFiles(objects)).find((k) => k.endsWith('/image/480x480.webp'))!;

      const port = await freePort();
      plain = spawnTs('bench/servers/static-file.ts', { env: { PORT: String(port), BENCH_STORE_DIR: objects } });
      await waitForHttp(`http://127.0.0.1:${port}/`, plain);
      const targets = {
        plain: { url: `http://127.0.0.1:${port}/${key}`, server: plain },
        api: { url: `${stack.apiUrl}${small.url}`, server: stack.api! },
      };
      const runs = { plain: [] as Load[], api: [] as Load[] };
      for (let round = 1; round <= rounds; round++) {
        for (const name of ['plain', 'api'] as const) {
          process.stdout.write(`   round ${round}/${rounds} ${name.padEnd(5)} ${connections} connections, ${seconds} s … `);
          const m = await load(targets[name].url, targets[name].server, connections, seconds * 1000, small.size);
          console.log(`${(m.requests / m.seconds).toFixed(0)} requests/s`);
          runs[name].push(m);
        }
      }
      const best = (ms: Load[]) => ms.reduce((a, b) => (a.requests / a.seconds >= b.requests / b.seconds ? a : b));
      const rps = (m: Load) => m.requests / m.seconds;
      const p = best(runs.plain);
      const a = best(runs.api);
      const row = (name: string, role: VariantResult['role'], m: Load): VariantResult => ({
        name,
        role,
        figures: {
          throughput: { value: rps(m), unit: 'requests/s', digits: 0 },
          'p50 latency': { value: m.p50ms, unit: 'ms', digits: 2 },
          'p99 latency': { value: m.p99ms, unit: 'ms', digits: 2 },
          'server CPU per 1000 requests': { value: (m.serverCpuSeconds / m.requests) * 1000, unit: 's', digits: 2 },
        },
      });
      const cpu = (m: Load) => m.serverCpuSeconds / m.requests;
      const checks: Check[] = [
        { name: 'requests/s api / static-file server', value: rps(a) / rps(p), unit: '', target: { op: '>=', value: 0.8 } },
        { name: 'server CPU per request static-file / api', value: cpu(p) / cpu(a), unit: '' },
      ];
      return {
        parameters: { BENCH_CONNECTIONS: connections, BENCH_SECONDS: seconds, BENCH_ROUNDS: rounds, 'bytes per response': small.size },
        variants: [row('static-file server (node:http)', 'baseline', p), row('media-ingest API', 'subject', a)],
        checks,
        notes: [
          `Each variant is driven for ${seconds} s by ${connections} keep-alive connections from the bench process (node:http client), each sending the next request when the last answer is read; the best of ${rounds} interleaved rounds is reported. Every answer is checked (200, the rendition's byte count).`,
          'The API runs as in production (api/main.ts, LOG_LEVEL=warn) against its own redis-server; per request it reads the compact record from Redis (one HGETALL), checks visibility, matches the URL to a listed rendition, stats the object and streams it with ETag, Cache-Control, Last-Modified and the security headers. The resource is public, so no key is hashed.',
          'The static-file server does one stat and pipes a read stream: the floor for sending a file with node:http. Client and servers share the machine\'s cores.',
        ],
      };
    } finally {
      await plain?.stop();
      await stack.stop();
      await fs.rm(root, { recursive: true, force: true });
      forget();
    }
  },
};

/** `connections` keep-alive loops against `url` for `ms`; every answer must be 200 with `size` bytes. */
async function load(url: string, server: NodeChild, connections: number, ms: number, size: number): Promise<Load> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const cpu0 = procStats(server.pid).cpuSeconds;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const start = performance.now();
      http
        .get(url, { agent }, (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => {
            if (res.statusCode !== 200 || n !== size) reject(new Error(`${url}: status ${res.statusCode}, ${n} bytes (expected 200, ${size})`));
            else {
              latencies.push(performance.now() - start);
              resolve();
            }
          });
        })
        .on('error', reject);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) await once();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const serverCpuSeconds = procStats(server.pid).cpuSeconds - cpu0;
  agent.destroy();
  latencies.sort((x, y) => x - y);
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * f))]!;
  return { requests: latencies.length, seconds, serverCpuSeconds, p50ms: q(0.5), p99ms: q(0.99) };
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

function envInt(name: string, def: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : def;
}
