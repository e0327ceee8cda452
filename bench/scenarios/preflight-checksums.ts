import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Catalog } from '../../shared/catalog/catalog.js';
import { newResourceRecord } from '../../shared/catalog/new-record.js';
import { freePort, startEmbeddedRedis } from '../../shared/embedded-redis.js';
import type { ResourceRecord } from '../../shared/model.js';
import { benchTempDir, spawnTs, waitForHttp } from '../lib/proc.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { envInt, median } from '../lib/params.js';

const API_KEY = 'bench-key-0123456789abcdef';
const PREFIX = 'bench';

/**
 * A batch client asks which of N files exist before uploading: one
 * `POST /v1/checksums` with N values, against N single `GET /v1/checksums/{sha}` on
 * the same API and Redis (keep-alive, 16 in flight, as a well-behaved client would),
 * and — for scale — N single Redis look-ups from the bench process.
 */
export const preflightChecksums: Scenario = {
  name: 'preflight-checksums',
  description:
    'Pre-flight of 10,000 checksums (half of them stored) in one POST /v1/checksums vs 10,000 single GET /v1/checksums/{sha} against the same API and Redis.',

  async run(): Promise<ScenarioResult> {
    const n = envInt('BENCH_CHECKSUMS', 10_000);
    const rounds = envInt('BENCH_ROUNDS', 5);
    const { dir: root, remove } = await benchTempDir('mi-bench-preflight-');
    const redis = await startEmbeddedRedis({ dir: path.join(root, 'redis'), appendonly: false });
    const port = await freePort();
    const api = spawnTs('api/main.ts', {
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: root,
        REDIS_URL: redis.url,
        REDIS_PREFIX: PREFIX,
        API_KEYS: API_KEY,
        LOG_LEVEL: 'warn',
      },
      killWithBench: [redis.proc.pid!],
    });
    const client = new Redis(redis.url);
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForHttp(`${base}/healthz`, api);
      const shas = Array.from({ length: n }, (_, i) => createHash('sha256').update(`file ${i}`).digest('hex'));
      await seed(
        client,
        shas.filter((_, i) => i % 2 === 0),
      );

      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      const batch: number[] = [];
      const singles: number[] = [];
      const direct: number[] = [];
      for (let r = 0; r < rounds; r++) {
        let t = performance.now();
        const answer = await request(agent, 'POST', `${base}/v1/checksums`, JSON.stringify({ checksums: shas }));
        batch.push((performance.now() - t) / 1000);
        const parsed = JSON.parse(answer.body) as { existing: Record<string, unknown>; missing: string[] };
        if (Object.keys(parsed.existing).length !== n / 2)
          throw new Error(`batch found ${Object.keys(parsed.existing).length}, expected ${n / 2}`);

        t = performance.now();
        let found = 0;
        let next = 0;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next < shas.length) {
              const sha = shas[next++]!;
              if ((await request(agent, 'GET', `${base}/v1/checksums/${sha}`)).status === 200) found++;
            }
          }),
        );
        singles.push((performance.now() - t) / 1000);
        if (found !== n / 2) throw new Error(`single GETs found ${found}, expected ${n / 2}`);

        t = performance.now();
        for (const sha of shas) await client.smembers(`{${PREFIX}}:sum:${sha}`);
        direct.push((performance.now() - t) / 1000);
      }
      agent.destroy();
      const b = median(batch);
      const s = median(singles);
      const d = median(direct);
      return {
        parameters: { checksums: n, stored: n / 2, rounds, 'GET concurrency': 16 },
        variants: [
          {
            name: `${n} × GET /v1/checksums/{sha}`,
            role: 'baseline',
            figures: { time: { value: s, unit: 's', digits: 3 }, rate: { value: n / s, unit: 'checks/s', digits: 0 } },
          },
          {
            name: `${n} × SMEMBERS straight to Redis (sequential)`,
            role: 'baseline',
            figures: { time: { value: d, unit: 's', digits: 3 }, rate: { value: n / d, unit: 'checks/s', digits: 0 } },
          },
          {
            name: `1 × POST /v1/checksums (${n} values)`,
            role: 'subject',
            figures: { time: { value: b, unit: 's', digits: 3 }, rate: { value: n / b, unit: 'checks/s', digits: 0 } },
          },
        ],
        checks: [
          { name: 'single GETs time / one POST time', value: s / b, unit: '×', digits: 1 },
          { name: 'sequential Redis look-ups time / one POST time', value: d / b, unit: '×', digits: 1 },
        ],
        notes: [
          `Medians of ${rounds} rounds; the ratio ranged from ${(Math.min(...singles) / Math.max(...batch)).toFixed(1)}× to ${(Math.max(...singles) / Math.min(...batch)).toFixed(1)}× between worst and best rounds.`,
          'The catalog is seeded directly (records + checksum index) so the figure is about the look-up, not about uploading 5,000 files.',
          'The POST does two Redis round trips whatever the count (SMEMBERS pipeline, then HMGET pipeline for candidates).',
        ],
      };
    } finally {
      client.disconnect();
      await api.stop();
      await redis.stop();
      await remove();
    }
  },
};

async function seed(redis: Redis, shas: string[]) {
  const catalog = new Catalog(redis, PREFIX);
  await catalog.ensureDefaultLibrary();
  for (let i = 0; i < shas.length; i += 1000) {
    const recs: ResourceRecord[] = [];
    for (const sha of shas.slice(i, i + 1000)) {
      const id = await catalog.allocateResourceId();
      recs.push(
        newResourceRecord({
          id,
          library: 1,
          fileName: `f${id}.bin`,
          source: 'bench',
          size: 1,
          checksum: sha,
          status: 'ready',
          storageKey: `x/${id}`,
        }),
      );
    }
    await catalog.createResources(recs);
    await Promise.all(recs.map((r) => catalog.checksums.claim(r.checksum, r.id, 1, 'allow')));
  }
}

function request(agent: http.Agent, method: string, url: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      agent,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
      },
    });
    req.on('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
