// Priority lanes (shared/jobs/lanes.ts): WORKER_LANES picks what a worker process
// serves; the bulk lane is rate-limited across workers and never holds up an upload.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Worker } from 'bullmq';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { BULK_QUEUE, LANE_QUEUES, laneOf } from '../../shared/jobs/lanes.js';
import { openQueue, QUEUE_NAMES, QUEUES, type BulkQueue } from '../../shared/jobs/queue-table.js';
import { COMPLETED_KEPT, EVENTS_MAX_LEN } from '../../shared/jobs/retention.js';
import { queuePrefix } from '../../shared/catalog/keys.js';
import { REPROCESS_JOB } from '../../shared/jobs/reprocess.js';
import { createLogger } from '../../shared/logger.js';
import { createRedis } from '../../shared/redis.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';
import { form, startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

describe('WORKER_LANES', () => {
  it('defaults to every lane and names what it does not know', () => {
    expect(loadConfig({}).worker.lanes).toEqual(['ingest', 'render', 'bulk']);
    expect(loadConfig({ WORKER_LANES: ' render , bulk,render' }).worker.lanes).toEqual(['render', 'bulk']);
    expect(() => loadConfig({ WORKER_LANES: 'ingest,uploads' })).toThrow(ConfigError);
    expect(() => loadConfig({ WORKER_LANES: 'ingest,uploads' })).toThrow(
      /WORKER_LANES must be a comma-separated list of ingest, render, bulk \(got "uploads"\)/,
    );
    expect(laneOf('ingest')).toBe('ingest');
    expect(laneOf(BULK_QUEUE)).toBe('bulk');
    expect(Object.values(LANE_QUEUES).flat().sort()).toEqual(['bulk', 'ingest', 'render', 'webhook']);
  });

  it('every queue of the table is in one lane and keeps a bounded number of completed jobs', () => {
    expect(Object.values(LANE_QUEUES).flat().sort()).toEqual([...QUEUE_NAMES].sort());
    for (const q of QUEUE_NAMES) {
      const done = QUEUES[q].jobOptions(3).removeOnComplete;
      // render: removed at once (the stored object is the result); the others: by count.
      expect(
        done === true || (typeof done === 'object' && done.count === COMPLETED_KEPT),
        `${q}: removeOnComplete ${JSON.stringify(done)}`,
      ).toBe(true);
    }
  });
});

describe('lanes at work', () => {
  let svc: TestService;
  let bulkQueue: BulkQueue;
  const extra: Worker[] = [];
  const connection = createRedis(inject('redisUrl'), 'worker');
  beforeAll(async () => {
    // The API only; workers are started per test with the lanes it needs.
    svc = await startService('fs', { worker: false, env: { BULK_JOBS_PER_SECOND: '5', WORKER_CONCURRENCY: '4' } });
    bulkQueue = openQueue('bulk', svc.core.redis, svc.config.redis.prefix);
  });
  afterAll(async () => {
    await closeWorkers(extra, 2000);
    await bulkQueue?.close();
    connection.disconnect();
    await svc?.close();
  });

  it('opens every queue of the table under its own hash tag with the events stream capped', async () => {
    // BullMQ keeps the cap in each queue's meta hash; any Queue opened with other options would reset it.
    for (const q of QUEUE_NAMES) {
      const meta = `${queuePrefix(svc.config.redis.prefix, q)}:${q}:meta`;
      await until(`${meta} written`, async () => (await svc.core.redis.hget(meta, 'opts.maxLenEvents')) !== null, 10_000);
      expect(await svc.core.redis.hget(meta, 'opts.maxLenEvents'), meta).toBe(String(EVENTS_MAX_LEN));
    }
  });

  function startWorkers(lanes: string): Worker[] {
    const config = loadConfig({ ...process.env, ...svcEnv(svc), WORKER_LANES: lanes });
    const ws = createWorkers({
      ...svc.core,
      config,
      connection,
      redisPrefix: config.redis.prefix,
      logger: createLogger('silent', 't'),
      concurrency: 4,
    });
    extra.push(...ws);
    return ws;
  }

  it('a worker started for the bulk lane serves only the bulk queue: uploads wait for an ingest worker', async () => {
    const bulkOnly = startWorkers('bulk');
    expect(bulkOnly.map((w) => w.name)).toEqual([BULK_QUEUE]);
    const res = await svc.fetch('/v1/libraries/default/files?wait=1', {
      method: 'POST',
      body: form({ file: { name: 'a.txt', data: `lane ${randomBytes(6).toString('hex')}` } }),
    });
    expect(res.status).toBe(202);
    const ingestOnly = startWorkers('ingest');
    expect(ingestOnly.map((w) => w.name)).toEqual(['ingest']);
    const [{ jobId }] = ((await res.json()) as { resources: { jobId: string }[] }).resources as [{ jobId: string }];
    expect((await svc.fetch(`/v1/jobs/${jobId}/wait?timeout=20`)).status).toBe(204);
  });

  it('rate-limits the bulk lane, while an upload arriving behind a bulk backlog is done at once', async () => {
    // 20 bulk jobs (reverts of resources that do not exist: each ends at once) at 5 per second.
    const jobs = Array.from({ length: 20 }, (_, i) => ({
      name: REPROCESS_JOB,
      data: { resourceId: 900_000_000 + i, fileVersion: 1, reread: false, renditions: false },
      opts: { jobId: `ingest-${900_000_000 + i}-1-b1` },
    }));
    await bulkQueue.addBulk(jobs);
    const upload = await svc.fetch('/v1/libraries/default/files?wait=20', {
      method: 'POST',
      body: form({ file: { name: 'b.txt', data: `fast ${randomBytes(6).toString('hex')}` } }),
    });
    expect(upload.status).toBe(204);
    const bulkLeft = (await bulkQueue.getJobCounts('waiting', 'delayed', 'active')) as Record<string, number>;
    expect(
      Object.values(bulkLeft).reduce((a, b) => a + b, 0),
      'bulk jobs still queued when the upload was done',
    ).toBeGreaterThan(0);
    await until('every bulk job to complete', async () => (await bulkQueue.getJobCounts('completed')).completed! >= 20, 30_000);

    // Judged on the times BullMQ recorded for each job, not on the test's clock.
    const ingestQueue = openQueue('ingest', svc.core.redis, svc.config.redis.prefix);
    const ingestJob = await ingestQueue.getJob(`ingest-${upload.headers.get('x-resource-id')}-1`);
    await ingestQueue.close();
    const bulkJobs = await bulkQueue.getJobs(['completed']);
    const started = bulkJobs.map((j) => j.processedOn!).sort((a, b) => a - b);
    // 20 jobs at 5 per second take four windows: the 16th starts three windows after the first.
    expect(started[15]! - started[0]!).toBeGreaterThanOrEqual(2_900);
    // The upload was done while bulk jobs queued before it still waited for their turn.
    expect(ingestJob?.finishedOn).toBeDefined();
    expect(bulkJobs.filter((j) => j.processedOn! > ingestJob!.finishedOn!).length).toBeGreaterThan(0);
  });
});

/** The environment the test service was configured from, rebuilt from its config. */
function svcEnv(svc: TestService): Record<string, string> {
  const c = svc.config;
  return {
    REDIS_PREFIX: c.redis.prefix,
    DATA_DIR: c.process.dataDir,
    STORAGE_DRIVER: 'fs',
    BULK_JOBS_PER_SECOND: String(c.jobs.bulkJobsPerSecond),
    LOG_LEVEL: 'silent',
    JOB_ATTEMPTS: '2',
  };
}

// One queue table, read the same way on a cluster: GET /v1/queues and /admin/lanes see
// the job an upload queued under the ingest queue's own hash tag (a wrong prefix reads
// an empty queue, as /v1/queues once did).
describe('queue listings on the Redis Cluster', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { redis: 'cluster', worker: false, env: { ADMIN_KEYS: 'admin-key-0123456789abcdef' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('counts the waiting upload in the ingest lane, in /v1/queues and /admin/lanes alike', async () => {
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({ file: { name: 'q.txt', data: `queued ${randomBytes(6).toString('hex')}` } }),
    });
    expect(res.status).toBe(202);
    type Lanes = { lanes: { lane: string; queues: { queue: string; counts: Record<string, number> }[] }[] };
    const ingestWaiting = (body: Lanes) =>
      body.lanes.find((l) => l.lane === 'ingest')!.queues.find((q) => q.queue === 'ingest')!.counts.waiting;
    const pub = (await (await svc.fetch('/v1/queues')).json()) as Lanes;
    expect(pub.lanes.map((l) => l.lane)).toEqual(['ingest', 'render', 'bulk']);
    expect(ingestWaiting(pub)).toBe(1);
    const admin = await fetch(`${svc.url}/admin/lanes`, { headers: { authorization: 'Bearer admin-key-0123456789abcdef' } });
    expect(admin.status).toBe(200);
    expect(ingestWaiting((await admin.json()) as Lanes)).toBe(1);
  });
});
