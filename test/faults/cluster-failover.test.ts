import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuePrefix } from '../../shared/catalog/keys.js';
import { INGEST_QUEUE } from '../../shared/jobs/ingest.js';
import { startRedisCluster, type RedisClusterHandle } from '../harness/redis-cluster.js';
import { form, startService, type TestService } from '../harness/service.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 13: a 3-master + 3-replica Redis Cluster loses the master holding the ingest
 * queue (SIGKILL) while uploads and jobs run. Its replica is promoted; the API and the
 * workers carry on without a restart — answering 503 + Retry-After while the slot has
 * no master, never 500 — and every acknowledged upload ends ready: the jobs resume, and
 * what asynchronous replication lost comes back with `reindex` from storage.
 */
// It once failed with uploads refused (503) to its deadline: the master had been killed
// before its replica had attached and synced, so no replica was allowed to take over and
// the cluster stayed down. startRedisCluster now waits for every replica to be in sync.
describe('Redis Cluster master killed mid-ingest, replica promoted', () => {
  let cluster: RedisClusterHandle;
  let svc: TestService;
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    svc = await startService('fs', {
      redisClusterNodes: cluster.seeds,
      env: { JOB_STALLED_INTERVAL_MS: '2000', JOB_ATTEMPTS: '10', WORKER_CONCURRENCY: '2' },
    });
  }, 60_000);
  afterAll(async () => {
    // The 6 redis-servers go whatever happened: a service that cannot close (the test
    // failed half-way through a failover) gets 20 s, then the cluster is stopped anyway.
    try {
      if (svc) await Promise.race([svc.close(), sleep(20_000)]);
    } finally {
      await cluster?.stop();
    }
  }, 60_000);

  /** Uploads one file as a client that honours Retry-After would; returns its resource id. */
  async function upload(i: number, deadline: number): Promise<number> {
    for (;;) {
      const res = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ file: { name: `f${i}.txt`, data: `failover ${i} ${randomBytes(8).toString('hex')}` } }),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) return Number(res.headers.get('x-resource-id'));
      const body = await res.text();
      expect(res.status, body).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      if (Date.now() > deadline) throw new Error(`upload ${i} still refused at the deadline: ${res.status} ${body}`);
      await sleep(500);
    }
  }

  async function states(ids: number[]): Promise<Map<string, number[]>> {
    const recs = await svc.core.catalog.getResources(ids);
    const out = new Map<string, number[]>();
    recs.forEach((r, i) => {
      const s = r?.status ?? 'missing';
      out.set(s, [...(out.get(s) ?? []), ids[i]!]);
    });
    return out;
  }

  it('keeps accepting uploads (503 + Retry-After at worst), resumes the jobs, and reindex brings back what was lost', async () => {
    const deadline = Date.now() + 90_000;
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await upload(i, deadline));

    const victim = await cluster.masterOf(`${queuePrefix(svc.config.redis.prefix, INGEST_QUEUE)}:x`);
    cluster.kill(victim);
    // Uploads go on while the cluster notices and promotes the replica.
    for (let i = 10; i < 30; i++) ids.push(await upload(i, deadline));
    await cluster.waitForOk(60_000);
    for (let i = 30; i < 40; i++) ids.push(await upload(i, deadline));
    expect(statuses.get(500) ?? 0).toBe(0);
    console.log(`answers during the failover: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(new Set(ids).size).toBe(40);

    // Jobs resume on the promoted master; wait until nothing moves any more.
    let last = '';
    for (let stable = 0; stable < 6 && Date.now() < deadline + 60_000;) {
      const now = JSON.stringify([...(await states(ids))].map(([s, l]) => [s, l.length]));
      stable = now === last ? stable + 1 : 0;
      last = now;
      if ((await states(ids)).get('ready')?.length === ids.length) break;
      await sleep(1_000);
    }

    // Whatever replication lost (records, jobs) comes back from the copies in storage.
    for (let from: number | null = 0; from !== null;) {
      const res = await svc.fetch('/v1/admin/reindex', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fromShard: from, shards: 512 }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      from = ((await res.json()) as { nextShard: number | null }).nextShard;
    }
    for (const end = Date.now() + 60_000; Date.now() < end;) {
      if ((await states(ids)).get('ready')?.length === ids.length) break;
      await sleep(500);
    }
    expect(Object.fromEntries(await states(ids))).toEqual({ ready: ids });
    // The catalog's indexes agree with the records, across all masters.
    expect(await svc.core.catalog.countResources()).toBe(40);
  }, 240_000);
});
