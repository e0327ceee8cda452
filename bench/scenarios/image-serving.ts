import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'minio';
import type { S3StorageConfig } from '../../shared/config.js';
import { freePort } from '../../shared/embedded-redis.js';
import { photoJpeg, stageFiles, startStack, variantOf, waitReady } from '../lib/images.js';
import { procStats, benchTempDir, spawnTs, waitForHttp, type NodeChild } from '../lib/proc.js';
import { startRgw, type BenchDriver } from '../lib/rgw.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

interface Load {
  requests: number;
  seconds: number;
  serverCpuSeconds: number;
  p50ms: number;
  p99ms: number;
}

export const imageServing: Scenario = imageServingOn('fs');

/**
 * The scenario on one storage driver. `s3`: the rendition is stored in S3 on Ceph's
 * radosgw on this machine, the API streams it from there, and the baseline is the same
 * object fetched straight from radosgw with a presigned GET.
 */
export function imageServingOn(driver: BenchDriver): Scenario {
  const s3 = driver === 's3';
  return {
    name: s3 ? 'image-serving-s3' : 'image-serving',
    description: s3
      ? 'The image-serving scenario with STORAGE_DRIVER=s3: `GET /image/480x480/{id}.webp` of the media-ingest API, which streams the rendition from ' +
        "S3 on Ceph's radosgw (one-node cluster on 127.0.0.1, memstore OSD), against a presigned GET of the same object straight from radosgw."
      : 'Serving one stored rendition (the "small" WebP of a photo) over keep-alive HTTP: `GET /image/480x480/{id}.webp` of the ' +
        'media-ingest API against a plain node:http static-file server (stat + createReadStream) on the same bytes.',

    async run(): Promise<ScenarioResult> {
      const connections = envInt('BENCH_CONNECTIONS', 16);
      const seconds = envInt('BENCH_SECONDS', 5);
      const rounds = envInt('BENCH_ROUNDS', 2);
      const { dir: root, remove } = await benchTempDir('mi-bench-serving-');
      const rgw = s3 ? await startRgw(512 * 1024 * 1024) : undefined;
      const stack = await startStack(root, {
        worker: { jemalloc: true },
        api: true,
        ...(rgw ? { env: { ...rgw.env, S3_BUCKET: 'bench-serving' } } : {}),
      });
      let plain: NodeChild | undefined;
      try {
        // One photo, public (how pages embed images), pre-rendered by the worker.
        const photo = path.join(root, 'photo.jpg');
        await fs.writeFile(photo, variantOf(await photoJpeg(3000, 2000), 1));
        const staged = await stageFiles(stack, [photo], 'public');
        const [rec] = await waitReady(
          stack,
          (await staged.commit()).map((r) => r.id),
        );
        await stack.worker!.stop();
        const small = rec!.renditions.find((r) => r.name === 'small')!;
        let baseline: { url: string; cpu: () => number };
        if (rgw) {
          let key = '';
          for await (const o of stack.core.store.list('')) if (o.key.endsWith('/image/480x480.webp')) key = o.key;
          const st = stack.config.storage as S3StorageConfig;
          const client = new Client({
            endPoint: st.endPoint,
            port: st.port!,
            useSSL: false,
            accessKey: st.accessKey,
            secretKey: st.secretKey,
            region: st.region,
          });
          baseline = { url: await client.presignedGetObject(st.bucket, key, 3600), cpu: () => rgw.cpuSeconds() };
        } else {
          const objects = path.join(stack.config.process.dataDir, 'objects');
          const key = (await listFiles(objects)).find((k) => k.endsWith('/image/480x480.webp'))!;
          const port = await freePort();
          const server = spawnTs('bench/servers/static-file.ts', { env: { PORT: String(port), BENCH_STORE_DIR: objects } });
          plain = server;
          await waitForHttp(`http://127.0.0.1:${port}/`, server);
          baseline = { url: `http://127.0.0.1:${port}/${key}`, cpu: () => procStats(server.pid).cpuSeconds };
        }
        const apiServer = stack.api!;
        const targets = {
          plain: baseline,
          api: { url: `${stack.apiUrl}${small.url}`, cpu: () => procStats(apiServer.pid).cpuSeconds },
        };
        const runs = { plain: [] as Load[], api: [] as Load[] };
        for (let round = 1; round <= rounds; round++) {
          for (const name of ['plain', 'api'] as const) {
            process.stdout.write(`   round ${round}/${rounds} ${name.padEnd(5)} ${connections} connections, ${seconds} s … `);
            const m = await load(targets[name].url, targets[name].cpu, connections, seconds * 1000, small.size);
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
        const checks: Check[] = s3
          ? [
              { name: 'requests/s api / radosgw presigned GET', value: rps(a) / rps(p), unit: '' },
              { name: 'radosgw + OSD + monitor peak RSS (VmHWM, together)', value: rgw!.peakRssMiB(), unit: 'MiB', digits: 0 },
            ]
          : [
              { name: 'requests/s api / static-file server', value: rps(a) / rps(p), unit: '', target: { op: '>=', value: 0.8 } },
              { name: 'server CPU per request static-file / api', value: cpu(p) / cpu(a), unit: '' },
            ];
        return {
          parameters: {
            ...(s3 ? { BENCH_DRIVER: 's3' } : {}),
            BENCH_CONNECTIONS: connections,
            BENCH_SECONDS: seconds,
            BENCH_ROUNDS: rounds,
            'bytes per response': small.size,
          },
          variants: [
            row(s3 ? 'radosgw, presigned GET' : 'static-file server (node:http)', 'baseline', p),
            row(s3 ? 'media-ingest API, STORAGE_DRIVER=s3' : 'media-ingest API', 'subject', a),
          ],
          checks,
          notes: s3
            ? [
                `Each variant is driven for ${seconds} s by ${connections} keep-alive connections from the bench process (node:http client); the best of ${rounds} interleaved rounds is reported. Every answer is checked (200, the rendition's byte count).`,
                'Per request the API reads the record from Redis, checks visibility and streams the object from radosgw (GetObject over a keep-alive connection of the minio client). "server CPU" of the baseline is radosgw, OSD and monitor together; of the API, the API process alone (radosgw works for it too, on the same 2 cores).',
                'The S3 server is a one-node Ceph 16 cluster started by scripts/ceph-rgw.sh: radosgw (beast) in front of one memstore OSD (objects in memory).',
              ]
            : [
                `Each variant is driven for ${seconds} s by ${connections} keep-alive connections from the bench process (node:http client), each sending the next request when the last answer is read; the best of ${rounds} interleaved rounds is reported. Every answer is checked (200, the rendition's byte count).`,
                'The API runs as in production (api/main.ts, LOG_LEVEL=warn) against its own redis-server; per request it reads the compact record from Redis (one HGETALL), checks visibility, matches the URL to a listed rendition, stats the object and streams it with ETag, Cache-Control, Last-Modified and the security headers. The resource is public, so no key is hashed.',
                "The static-file server does one stat and pipes a read stream: the floor for sending a file with node:http. Client and servers share the machine's cores.",
              ],
        };
      } finally {
        await plain?.stop();
        await stack.stop();
        await rgw?.stop();
        await remove();
      }
    },
  };
}

/** `connections` keep-alive loops against `url` for `ms`; every answer must be 200 with `size` bytes. */
async function load(url: string, serverCpu: () => number, connections: number, ms: number, size: number): Promise<Load> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const cpu0 = serverCpu();
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
            if (res.statusCode !== 200 || n !== size)
              reject(new Error(`${url}: status ${res.statusCode}, ${n} bytes (expected 200, ${size})`));
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
  const serverCpuSeconds = serverCpu() - cpu0;
  agent.destroy();
  latencies.sort((x, y) => x - y);
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * f))]!;
  return { requests: latencies.length, seconds, serverCpuSeconds, p50ms: q(0.5), p99ms: q(0.99) };
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}
