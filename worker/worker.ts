import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { Config } from '../shared/config.js';
import { INGEST_QUEUE, type IngestPayload } from '../shared/jobs/ingest.js';
import { createIngestQueue } from '../shared/jobs/queues.js';
import { REPROCESS_BATCH_JOB, type ReprocessBatchPayload } from '../shared/jobs/reprocess-batch.js';
import { REPROCESS_JOB, type ReprocessPayload } from '../shared/jobs/reprocess.js';
import type { Logger } from '../shared/logger.js';
import { keyPrefix } from '../shared/redis.js';
import { ReprocessService } from '../shared/services/reprocess-service.js';
import type { ObjectStore } from '../shared/storage/object-store.js';
import { endExifTool } from './exiftool.js';
import { RENDER_QUEUE, type RenderPayload } from '../shared/jobs/render.js';
import { tuneImaging } from './imaging/tuning.js';
import { ingestProcessor } from './jobs/ingest.js';
import { reprocessBatchProcessor } from './jobs/reprocess-batch.js';
import { reprocessProcessor } from './jobs/reprocess.js';
import { renderProcessor } from './jobs/render.js';

export interface WorkerDeps {
  config: Config;
  connection: Redis;
  redisPrefix: string;
  catalog: Catalog;
  store: ObjectStore;
  logger: Logger;
  concurrency: number;
}

/** The BullMQ workers of this process (one per queue). */
export function createWorkers(deps: WorkerDeps): Worker[] {
  tuneImaging(deps.config, deps.logger);
  // The ingest queue also carries reverts and bulk-revert fan-out steps (shared/jobs/reprocess.ts).
  const queue = createIngestQueue(deps.connection, deps.redisPrefix);
  const reprocess = new ReprocessService({ catalog: deps.catalog, ingestQueue: queue, jobAttempts: deps.config.jobAttempts });
  const processors = {
    ingest: ingestProcessor(deps),
    [REPROCESS_JOB]: reprocessProcessor(deps),
    [REPROCESS_BATCH_JOB]: reprocessBatchProcessor({
      ...deps,
      queue: queue as never,
      reprocess,
      chunkSize: deps.config.reprocess.chunkSize,
      maxQueued: deps.config.reprocess.maxQueued,
      jobAttempts: deps.config.jobAttempts,
    }),
  };
  const dispatch = (job: Job) => {
    if (job.name === REPROCESS_JOB) return processors[REPROCESS_JOB](job as Job<ReprocessPayload>);
    if (job.name === REPROCESS_BATCH_JOB) return processors[REPROCESS_BATCH_JOB](job as Job<ReprocessBatchPayload>);
    return processors.ingest(job as Job<IngestPayload>);
  };
  const ingest = new Worker(INGEST_QUEUE, dispatch, {
    connection: deps.connection,
    prefix: keyPrefix(deps.redisPrefix),
    concurrency: deps.concurrency,
    // A job whose worker died is picked up again once its lock expires and the next
    // stalled check runs (stalled-job recovery): both follow JOB_STALLED_INTERVAL_MS.
    stalledInterval: deps.config.stalledIntervalMs,
    lockDuration: deps.config.stalledIntervalMs,
    maxStalledCount: deps.config.maxStalledCount,
  });
  ingest.on('error', (err) => deps.logger.error({ err }, 'worker error'));
  ingest.on('closed', () => void queue.close().catch(() => undefined));
  ingest.on('failed', (job, err) => {
    // Covers jobs failed outside the processor (stalled too often): the record must not stay "processing".
    if (!job || job.name === REPROCESS_BATCH_JOB) return;
    const { resourceId, fileVersion } = job.data;
    void deps.catalog
      .getResource(resourceId)
      .then((r) => {
        if (r && r.fileVersion === fileVersion && r.status === 'processing' && job.finishedOn) {
          // BullMQ's own words ("job stalled more than allowable limit") tell a client nothing.
          const error = /stalled more than allowable limit/.test(err.message)
            ? `Processing was cut short ${deps.config.maxStalledCount + 1} times by the worker stopping (crash, out of memory or kill); the file may be what stops it. Upload it again to retry.`
            : err.message;
          return deps.catalog.updateResource(resourceId, fileVersion, { status: 'failed', error, errorCode: 'internal' });
        }
        return undefined;
      })
      .catch(() => undefined);
  });
  // On-demand renders: a queue and a worker of their own, so a request for an image
  // never waits behind the ingest backlog (shared/jobs/render.ts).
  const render = new Worker<RenderPayload>(RENDER_QUEUE, renderProcessor(deps), {
    connection: deps.connection,
    prefix: keyPrefix(deps.redisPrefix),
    concurrency: deps.config.images.renderConcurrency,
    stalledInterval: deps.config.stalledIntervalMs,
    lockDuration: deps.config.stalledIntervalMs,
    maxStalledCount: deps.config.maxStalledCount,
  });
  render.on('error', (err) => deps.logger.error({ err }, 'render worker error'));
  return [ingest, render];
}

/** Stop taking jobs; wait for active ones up to `timeoutMs`, then leave them to stalled-job recovery. */
export async function closeWorkers(workers: Worker[], timeoutMs: number): Promise<void> {
  await Promise.race([
    Promise.all(workers.map((w) => w.close())),
    new Promise((r) => setTimeout(r, timeoutMs).unref()),
  ]);
  await Promise.all(workers.map((w) => w.close(true).catch(() => undefined)));
  // The exiftool processes would keep the event loop (and the process) alive.
  await endExifTool();
}
