import { Worker, type Job } from 'bullmq';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { Config } from '../shared/config.js';
import { INGEST_QUEUE, type IngestPayload } from '../shared/jobs/ingest.js';
import { BULK_QUEUE, bulkLimiter, createBulkQueue } from '../shared/jobs/lanes.js';
import { createIngestQueue } from '../shared/jobs/queues.js';
import { LibraryWebhooks } from '../shared/catalog/webhooks.js';
import { createWebhookQueue, WEBHOOK_QUEUE, type WebhookPayload } from '../shared/jobs/webhook.js';
import { REPROCESS_BATCH_JOB, type ReprocessBatchPayload } from '../shared/jobs/reprocess-batch.js';
import { REPROCESS_JOB, type ReprocessPayload } from '../shared/jobs/reprocess.js';
import type { Logger } from '../shared/logger.js';
import { queuePrefix } from '../shared/catalog/keys.js';
import type { RedisConnection } from '../shared/redis.js';
import { ReprocessService } from '../shared/services/reprocess-service.js';
import type { ObjectStore } from '../shared/storage/object-store.js';
import { endExifTool } from './exiftool.js';
import { withCompletionWebhook } from './completion-webhook.js';
import { observeJobs } from './job-metrics.js';
import { webhookProcessor } from './jobs/webhook.js';
import { RENDER_QUEUE, type RenderPayload } from '../shared/jobs/render.js';
import { tuneImaging } from './imaging/tuning.js';
import { ingestProcessor } from './jobs/ingest.js';
import { reprocessBatchProcessor } from './jobs/reprocess-batch.js';
import { reprocessProcessor } from './jobs/reprocess.js';
import { renderProcessor } from './jobs/render.js';
import { ExternalService } from '../shared/external/scan-service.js';
import { EXTERNAL_INGEST_JOB, EXTERNAL_POLL_JOB, EXTERNAL_SCAN_JOB, EXTERNAL_SYNC_JOB } from '../shared/jobs/external.js';
import { externalIngestProcessor, externalPollProcessor, externalScanProcessor, externalSyncProcessor } from './jobs/external.js';

export interface WorkerDeps {
  config: Config;
  connection: RedisConnection;
  redisPrefix: string;
  catalog: Catalog;
  store: ObjectStore;
  logger: Logger;
  concurrency: number;
}

/**
 * The BullMQ workers of this process: one per queue of each lane it serves
 * (WORKER_LANES; shared/jobs/lanes.ts). Each lane has slots of its own, so no kind of
 * work can starve another.
 */
export function createWorkers(deps: WorkerDeps): Worker[] {
  tuneImaging(deps.config, deps.logger);
  const { workerLanes, bulkConcurrency, bulkJobsPerSecond, webhookSecret, webhookAttempts, webhookTimeoutMs, webhookAllowPrivate } = deps.config.operations;
  const lanes = new Set(workerLanes);
  // Producers too: a revert of one resource goes on the ingest queue, a bulk revert's
  // steps and per-resource jobs on the bulk queue.
  const queue = createIngestQueue(deps.connection, deps.redisPrefix);
  const bulkQueue = createBulkQueue(deps.connection, deps.redisPrefix);
  const webhookQueue = createWebhookQueue(deps.connection, deps.redisPrefix);
  const reprocess = new ReprocessService({ catalog: deps.catalog, ingestQueue: queue, bulkQueue, jobAttempts: deps.config.jobAttempts });
  const processors = {
    // Without WEBHOOK_SECRET nothing can be signed: no webhooks (the API refuses to take any).
    ingest: webhookSecret
      ? withCompletionWebhook(ingestProcessor(deps), {
          catalog: deps.catalog,
          webhooks: new LibraryWebhooks(deps.connection, deps.redisPrefix),
          queue: webhookQueue,
          attempts: webhookAttempts,
        })
      : ingestProcessor(deps),
    [REPROCESS_JOB]: reprocessProcessor(deps),
    [REPROCESS_BATCH_JOB]: reprocessBatchProcessor({
      ...deps,
      queue: bulkQueue,
      reprocess,
      chunkSize: deps.config.reprocess.chunkSize,
      maxQueued: deps.config.reprocess.maxQueued,
      jobAttempts: deps.config.jobAttempts,
    }),
  };
  // External libraries (docs/external-libraries.md): their jobs run on the bulk lane.
  const external = new ExternalService({ config: deps.config, redis: deps.connection, catalog: deps.catalog, store: deps.store, bulkQueue });
  const externalDeps = { ...deps, external, chunkSize: deps.config.reprocess.chunkSize, maxQueued: deps.config.reprocess.maxQueued };
  const externalJobs: Record<string, (job: Job) => Promise<void>> = {
    [EXTERNAL_SCAN_JOB]: externalScanProcessor(externalDeps),
    [EXTERNAL_INGEST_JOB]: externalIngestProcessor(deps, processors.ingest as (job: Job) => Promise<void>),
    [EXTERNAL_SYNC_JOB]: externalSyncProcessor(externalDeps),
    [EXTERNAL_POLL_JOB]: externalPollProcessor(externalDeps),
  };
  // By job name, on both the ingest and the bulk queue: a revert is the same work in
  // either lane, and fan-out steps queued on the ingest queue before lanes existed still run.
  const dispatch = (job: Job) => {
    const ext = externalJobs[job.name];
    if (ext) return ext(job);
    if (job.name === REPROCESS_JOB) return processors[REPROCESS_JOB](job as Job<ReprocessPayload>);
    if (job.name === REPROCESS_BATCH_JOB) return processors[REPROCESS_BATCH_JOB](job as Job<ReprocessBatchPayload>);
    return processors.ingest(job as Job<IngestPayload>);
  };
  const common = {
    connection: deps.connection,
    // A job whose worker died is picked up again once its lock expires and the next
    // stalled check runs (stalled-job recovery): both follow JOB_STALLED_INTERVAL_MS.
    stalledInterval: deps.config.stalledIntervalMs,
    lockDuration: deps.config.stalledIntervalMs,
    maxStalledCount: deps.config.maxStalledCount,
  };
  const recordFailure = (job: Job | undefined, err: Error) => {
    // Covers jobs failed outside the processor (stalled too often): the record must not stay "processing".
    if (!job || job.name === REPROCESS_BATCH_JOB || (job.name.startsWith('external-') && job.name !== EXTERNAL_INGEST_JOB)) return;
    const { resourceId, fileVersion } = job.data as IngestPayload;
    void deps.catalog
      .getResource(resourceId)
      .then((r) => {
        if (r && r.fileVersion === fileVersion && r.status === 'processing' && job.finishedOn) {
          // BullMQ's own words ("job stalled more than allowable limit") tell a client nothing.
          const error = /stalled more than allowable limit/.test(err.message)
            ? `Processing was cut short ${deps.config.maxStalledCount + 1 === 1 ? 'once' : `${deps.config.maxStalledCount + 1} times`} by the worker stopping (crash, out of memory or kill); the file may be what stops it. Upload it again to retry.`
            : err.message;
          return deps.catalog.updateResource(resourceId, fileVersion, { status: 'failed', error, errorCode: 'internal' });
        }
        return undefined;
      })
      .catch(() => undefined);
  };

  const workers: Worker[] = [];
  if (lanes.has('ingest')) {
    const ingest = new Worker(INGEST_QUEUE, dispatch, { ...common, prefix: queuePrefix(deps.redisPrefix, INGEST_QUEUE), concurrency: deps.concurrency });
    ingest.on('failed', recordFailure);
    workers.push(ingest);
    if (webhookSecret) {
      // Waiting on other servers, not the CPU: many at once cost little.
      const webhooks = new Worker<WebhookPayload>(WEBHOOK_QUEUE, webhookProcessor({ secret: webhookSecret, timeoutMs: webhookTimeoutMs, allowPrivate: webhookAllowPrivate, logger: deps.logger }), {
        ...common,
        prefix: queuePrefix(deps.redisPrefix, WEBHOOK_QUEUE),
        concurrency: 16,
      });
      workers.push(webhooks);
    }
  }
  if (lanes.has('render')) {
    // On-demand renders: a request is waiting for each (shared/jobs/render.ts).
    workers.push(new Worker<RenderPayload>(RENDER_QUEUE, renderProcessor(deps), { ...common, prefix: queuePrefix(deps.redisPrefix, RENDER_QUEUE), concurrency: deps.config.images.renderConcurrency }));
  }
  if (lanes.has('bulk')) {
    const bulk = new Worker(BULK_QUEUE, dispatch, { ...common, prefix: queuePrefix(deps.redisPrefix, BULK_QUEUE), concurrency: bulkConcurrency, limiter: bulkLimiter(bulkJobsPerSecond) });
    bulk.on('failed', recordFailure);
    workers.push(bulk);
    // The pollers of external libraries: one repeatable job per library with a source
    // (idempotent; the API adds one when such a library is made).
    void deps.catalog
      .listLibraries()
      .then((libs) => Promise.all(libs.filter((l) => l.source).map((l) => external.schedulePolling(l))))
      .catch((err: unknown) => deps.logger.warn({ err }, 'external libraries: scheduling the polls failed'));
  }
  let open = workers.length;
  for (const w of workers) {
    w.on('error', (err) => deps.logger.error({ err, queue: w.name }, 'worker error'));
    observeJobs(w, deps.logger);
    // The producer queues serve every lane's processors: closed with the last worker.
    w.on('closed', () => {
      if (--open === 0) void Promise.all([queue.close(), bulkQueue.close(), webhookQueue.close()]).catch(() => undefined);
    });
  }
  return workers;
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
