import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { openCore } from '../../shared/core.js';
import { freePort } from '../../shared/embedded-redis.js';
import { startRedisCluster, type RedisClusterHandle } from '../harness/redis-cluster.js';
import { form, startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

/**
 * A cluster that cannot serve some slots (a master gone, no replica to promote) answers
 * CLUSTERDOWN: the API says 503 + Retry-After, never 500. A wrong seed list stops
 * start-up naming the nodes.
 */
describe('Redis Cluster down or misnamed', () => {
  let cluster: RedisClusterHandle;
  let svc: TestService;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    svc = await startService('fs', { redisClusterNodes: cluster.seeds, worker: false });
  }, 60_000);
  afterAll(async () => {
    await svc?.close();
    await cluster?.stop();
  }, 60_000);

  it('answers 503 with Retry-After, never 500, once a master is gone with no replica to promote (CLUSTERDOWN)', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      // Ids 43 apart land in buckets far apart, on every master.
      await svc.core.redis.incrby(svc.core.catalog.keys.resourceSeq, 42);
      const res = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ file: { name: `d${i}.txt`, data: `down ${i} ${Math.random()}` } }),
      });
      expect(res.status).toBe(202);
      ids.push(Number(res.headers.get('x-resource-id')));
    }
    const owners = await Promise.all(ids.map((id) => cluster.masterOf(svc.core.catalog.keys.resource(id))));
    const victim = owners[0]!;
    // The small global keys (`{prefix}`) stay up, so the API's own bookkeeping keeps working.
    const globalOwner = await cluster.masterOf(`{${svc.config.redis.prefix}}:x`);
    const target = victim === globalOwner ? owners.find((o) => o !== globalOwner)! : victim;
    cluster.kill(target);
    const onVictim = ids.filter((_, i) => owners[i] === target);
    const elsewhere = ids.filter((_, i) => owners[i] !== target);
    expect(onVictim.length).toBeGreaterThan(0);
    expect(elsewhere.length).toBeGreaterThan(0);

    const unavailable = async (id: number) => {
      const res = await svc.fetch(`/v1/resources/${id}`);
      expect(res.status, await res.clone().text()).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    };
    // Until the others mark it failed the answer is a connection error; after, CLUSTERDOWN. Both: 503.
    await unavailable(onVictim[0]!);
    const live = cluster.nodes.find((n) => n !== target)!;
    const probe = new Redis(live.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await probe.connect();
      await until(
        'the cluster to mark the master failed',
        async () => /cluster_state:fail/.test(String(await probe.call('CLUSTER', 'INFO'))),
        30_000,
        200,
      );
    } finally {
      probe.disconnect();
    }
    // Redis' default cluster-require-full-coverage: with slots uncovered, every master
    // refuses — the resources elsewhere answer 503 too, never 500. (Asked together: each
    // answer waits out the client's retries, over ten seconds.)
    await Promise.all([unavailable(onVictim[0]!), unavailable(elsewhere[0]!)]);
  }, 90_000);

  it('a seed list with no cluster node behind it fails start-up, naming each node and why', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const config = loadConfig({
      REDIS_CLUSTER_NODES: `127.0.0.1:${a},127.0.0.1:${b}`,
      DATA_DIR: '/nonexistent-mi-test',
      LOG_LEVEL: 'silent',
    });
    await expect(openCore(config, { clusterNodes: config.redis.clusterNodes! })).rejects.toThrow(
      new RegExp(
        `No seed node in REDIS_CLUSTER_NODES is a healthy Redis Cluster node: 127\\.0\\.0\\.1:${a} \\(.*ECONNREFUSED.*\\), 127\\.0\\.0\\.1:${b} \\(.*\\)\\. Check REDIS_CLUSTER_NODES\\.`,
      ),
    );
  });

  it('a seed that is a standalone Redis is named as not a cluster node', async () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: new URL(inject('redisUrl')).host,
      DATA_DIR: '/nonexistent-mi-test',
      LOG_LEVEL: 'silent',
    });
    await expect(openCore(config, { clusterNodes: config.redis.clusterNodes! })).rejects.toThrow(
      /not a cluster node \(cluster support disabled; use REDIS_URL\)/,
    );
  });
});
