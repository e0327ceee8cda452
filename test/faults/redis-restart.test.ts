// Fault: Redis (append-only file on, as deployed) is killed with SIGKILL in the middle of
// a batch of uploads and started again on the same port and data directory. Every
// upload the API acknowledged (202) must survive and be processed; while Redis is down
// the API answers 503 with Retry-After (never 500, never a hang), and it recovers by
// itself — no restart of the API or the worker.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { startRedisServer, type RedisServerHandle } from '../harness/redis-server.js';
import { form, startService, type TestService } from '../harness/service.js';
import { audit, sleep, until } from './lib/audit.js';

describe('Redis killed and restarted mid-batch (AOF on)', () => {
  let redis: RedisServerHandle;
  let dir: string;
  let svc: TestService;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-fault-redis-'));
    redis = await startRedisServer({ appendonly: true, dir });
    svc = await startService('fs', { redisUrl: redis.url, env: { JOB_ATTEMPTS: '5', JOB_STALLED_INTERVAL_MS: '1000' } });
  });
  afterAll(async () => {
    await svc?.close();
    await redis?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged upload, answers 503 + Retry-After while down, recovers by itself', async () => {
    const acked: number[] = [];
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    let retryAfterMissing = 0;
    let n = 0;
    let phase: 'before' | 'down' | 'after' = 'before';
    let ackedAfter = 0;
    let stop = false;

    const upload = async () => {
      const i = n++;
      const res = await svc
        .fetch('/v1/libraries/default/files', {
          method: 'POST',
          body: form({ file: { name: `r-${i}.txt`, data: `redis fault ${i} ${Math.random()}` } }),
        })
        .catch((err: unknown) => {
          unexpected.push(`#${i} network error ${String(err)}`);
          return undefined;
        });
      if (!res) return;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) {
        const body = (await res.json()) as { resources: { id: number }[] };
        acked.push(...body.resources.map((r) => r.id));
        if (phase === 'after') ackedAfter++;
      } else if (res.status === 503) {
        if (!/^\d+$/.test(res.headers.get('retry-after') ?? '')) retryAfterMissing++;
        await res.body?.cancel();
      } else {
        unexpected.push(`#${i} in phase ${phase}: ${res.status} ${await res.text()}`);
      }
    };
    // Two clients uploading without pause, like a batch CLI.
    const clients = Array.from({ length: 2 }, async () => {
      while (!stop) await upload();
    });

    await until('10 acknowledged uploads', async () => acked.length >= 10, 20_000);
    // One slow upload is mid-body when Redis dies: its bytes are staged after the kill,
    // so recording it fails — it must answer 503 and leave its bytes behind nowhere.
    const boundary = 'slowredis';
    const chunks = [
      multipartFileHead(boundary, 'file', 'slow.bin'),
      ...Array.from({ length: 12 }, (_, i) => Buffer.alloc(2048, i)),
      multipartEnd(boundary),
    ];
    const slow = rawRequest(`${svc.url}/v1/libraries/default/files`, {
      headers: {
        authorization: `Bearer ${svc.key}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': chunks.reduce((k, c) => k + Buffer.byteLength(c), 0),
      },
      chunks,
      chunkDelayMs: 100,
    });
    await sleep(300);
    redis.proc.kill('SIGKILL');
    await redis.stop();
    phase = 'down';
    // Readiness says so too, with Retry-After.
    const ready = await until(
      'readyz to report 503',
      async () => {
        const r = await fetch(`${svc.url}/readyz`);
        return r.status === 503 ? r : undefined;
      },
      10_000,
    );
    expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
    const slowRes = await slow;
    expect(slowRes === 'hung-up' ? 'hung-up' : slowRes.status, 'the upload whose bytes were staged after Redis died').toBe(503);
    await sleep(1500);
    const ackedBeforeRestart = acked.length;
    redis = await startRedisServer({ appendonly: true, dir, port: redis.port });
    phase = 'after';
    await until('10 acknowledged uploads after the restart', async () => ackedAfter >= 10, 30_000);
    stop = true;
    await Promise.all(clients);

    expect(unexpected, 'answers other than 202 and 503').toEqual([]);
    expect(statuses.get(503) ?? 0, 'uploads refused while Redis was down').toBeGreaterThan(0);
    expect(retryAfterMissing).toBe(0);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);

    // Every acknowledged upload is in the catalog after the restart, and gets processed.
    const recs = await until(
      'every acknowledged upload to be processed',
      async () => {
        const rs = await Promise.all(acked.map((id) => svc.core.catalog.getResource(id)));
        return rs.every((r) => r?.status === 'ready') ? rs : undefined;
      },
      60_000,
      250,
    );
    expect(recs).toHaveLength(acked.length);
    // A failed commit's undo retries with backoff (up to 5 s apart) until Redis is back: give it that long.
    const a = await until(
      'the undo of failed commits to finish',
      async () => {
        const x = await audit(svc.core.catalog, svc.core.store);
        return x.orphans.length === 0 ? x : undefined;
      },
      15_000,
      250,
    ).catch(() => audit(svc.core.catalog, svc.core.store));
    console.log(JSON.stringify(a.records.filter((r) => !acked.includes(r.id))));
    expect(a.records.map((r) => r.id).sort((x, y) => x - y)).toEqual([...acked].sort((x, y) => x - y));
    expect(a.missing).toEqual([]);
    // Bytes staged by requests that failed while Redis was away were discarded…
    expect(a.orphans).toEqual([]);
    // …and no record was left in "processing" without a job to finish it.
    const check = (await (await svc.fetch('/v1/admin/check?limit=1000')).json()) as { stuck: unknown[]; missing: unknown[] };
    expect(check).toMatchObject({ stuck: [], missing: [] });
    console.log(
      `[redis-restart] uploads=${n} acknowledged=${acked.length} (before kill ${ackedBeforeRestart}) refused-503=${statuses.get(503) ?? 0} lost=0 orphans=${a.orphans.length}`,
    );
  }, 120_000);
});
