import { Worker, type Job, type Processor, type WorkerOptions } from 'bullmq';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { Config } from '../shared/config.js';
import type { IngestPayload } from '../shared/jobs/ingest.js';
import { bulkLimiter } from '../shared/jobs/lanes.js';
import { openQueue, queueOptions, queuesOfLane, type PayloadOf, type QueueName } from '../shared/jobs/queue-table.js';
import { LibraryWebhooks } from '../shared/catalog/webhooks.js';
import { REMAP_PAGE_JOB, type RemapPagePayload } from '../shared/jobs/remap-page.js';
import { REPROCESS_BATCH_JOB, type ReprocessBatchPayload } from '../shared/jobs/reprocess-batch.js';
import { REPROCESS_JOB, type ReprocessPayload } from '../shared/jobs/reprocess.js';
import { logFailure, type Logger } from '../shared/logger.js';
import type { RedisConnection } from '../shared/redis.js';
import { ReprocessService } from '../shared/services/reprocess-service.js';
import type { ObjectStore } from '../shared/storage/object-store.js';
import { endExifTool } from './exiftool.js';
import { withCompletionWebhook } from './completion-webhook.js';
import { observeJobs } from './job-metrics.js';
import { webhookProcessor } from './jobs/webhook.js';
import { tuneImaging } from './imaging/tuning.js';
import { ingestProcessor } from './jobs/ingest.js';
import { remapPageProcessor } from './jobs/remap-page.js';
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
  const { lanes: workerLanes, bulkConcurrency } = deps.config.worker;
  const { bulkJobsPerSecond } = deps.config.jobs;
  const {
    secret: webhookSecret,
    attempts: webhookAttempts,
    timeoutMs: webhookTimeoutMs,
    allowPrivate: webhookAllowPrivate,
  } = deps.config.webhooks;
  const lanes = new Set(workerLanes);
  // Producers too: a revert of one resource goes on the ingest queue, a bulk revert's
  // steps and per-resource jobs on the bulk queue.
  const queue = openQueue('ingest', deps.connection, deps.redisPrefix);
  const bulkQueue = openQueue('bulk', deps.connection, deps.redisPrefix);
  const webhookQueue = openQueue('webhook', deps.connection, deps.redisPrefix);
  const reprocess = new ReprocessService({
    catalog: deps.catalog,
    ingestQueue: queue,
    bulkQueue,
    jobAttempts: deps.config.jobs.attempts,
    logger: deps.logger,
  });
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
      chunkSize: deps.config.jobs.reprocess.chunkSize,
      maxQueued: deps.config.jobs.reprocess.maxQueued,
      pageSize: deps.config.jobs.reprocess.pageSize,
      jobAttempts: deps.config.jobs.attempts,
    }),
    [REMAP_PAGE_JOB]: remapPageProcessor({ ...deps, queue: bulkQueue, jobAttempts: deps.config.jobs.attempts }),
  };
  // External libraries (docs/external-libraries.md): their jobs run on the bulk lane.
  const external = new ExternalService({
    config: deps.config,
    redis: deps.connection,
    catalog: deps.catalog,
    store: deps.store,
    bulkQueue,
    logger: deps.logger,
  });
  const externalDeps = {
    ...deps,
    external,
    chunkSize: deps.config.jobs.reprocess.chunkSize,
    maxQueued: deps.config.jobs.reprocess.maxQueued,
  };
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
    if (job.name === REMAP_PAGE_JOB) return processors[REMAP_PAGE_JOB](job as Job<RemapPagePayload>);
    return processors.ingest(job as Job<IngestPayload>);
  };
  const common = {
    connection: deps.connection,
    // A job whose worker died is picked up again once its lock expires and the next
    // stalled check runs (stalled-job recovery): both follow JOB_STALLED_INTERVAL_MS.
    stalledInterval: deps.config.jobs.stalledIntervalMs,
    lockDuration: deps.config.jobs.stalledIntervalMs,
    maxStalledCount: deps.config.jobs.maxStalledCount,
  };
  const recordFailure = (job: Job | undefined, err: Error) => {
    // Covers jobs failed outside the processor (stalled too often): the record must not stay "processing".
    // A re-map page carries no one resource: those it could not finish went to per-resource jobs.
    if (
      !job ||
      job.name === REPROCESS_BATCH_JOB ||
      job.name === REMAP_PAGE_JOB ||
      (job.name.startsWith('external-') && job.name !== EXTERNAL_INGEST_JOB)
    )
      return;
    const { resourceId, fileVersion } = job.data as IngestPayload;
    void deps.catalog
      .getResource(resourceId)
      .then((r) => {
        if (r && r.fileVersion === fileVersion && r.status === 'processing' && job.finishedOn) {
          // BullMQ's own words ("job stalled more than allowable limit") tell a client nothing.
          const error = /stalled more than allowable limit/.test(err.message)
            ? `Processing was cut short ${deps.config.jobs.maxStalledCount + 1 === 1 ? 'once' : `${deps.config.jobs.maxStalledCount + 1} times`} by the worker stopping (crash, out of memory or kill); the file may be what stops it. Upload it again to retry.`
            : err.message;
          return deps.catalog.updateResource(resourceId, fileVersion, { status: 'failed', error, errorCode: 'internal' });
        }
        return undefined;
      })
      .catch(logFailure(deps.logger, 'a job that failed for good could not mark its resource failed', { resourceId, fileVersion }));
  };

  // Per queue of the table: its processor and how many jobs a process runs at once.
  // Undefined: this process does not serve the queue.
  const serve: { [Q in QueueName]: { processor: Processor<PayloadOf<Q>, void, string>; options: Partial<WorkerOptions> } | undefined } = {
    ingest: { processor: dispatch, options: { concurrency: deps.concurrency } },
    // Without WEBHOOK_SECRET nothing is queued there. Waiting on other servers, not the
    // CPU: many at once cost little.
    webhook: webhookSecret
      ? {
          processor: webhookProcessor({
            secret: webhookSecret,
            timeoutMs: webhookTimeoutMs,
            allowPrivate: webhookAllowPrivate,
            logger: deps.logger,
          }),
          options: { concurrency: 16 },
        }
      : undefined,
    // On-demand renders: a request is waiting for each (shared/jobs/render.ts).
    render: { processor: renderProcessor(deps), options: { concurrency: deps.config.worker.renderConcurrency } },
    bulk: { processor: dispatch, options: { concurrency: bulkConcurrency, limiter: bulkLimiter(bulkJobsPerSecond) } },
  };
  const workers: Worker[] = [];
  for (const lane of lanes) {
    for (const q of queuesOfLane(lane)) {
      const s = serve[q] as { processor: Processor; options: Partial<WorkerOptions> } | undefined;
      if (!s) continue;
      const w = new Worker(q, s.processor, { ...queueOptions(q, deps.connection, deps.redisPrefix), ...common, ...s.options });
      // Ingest and revert jobs carry a resource; a webhook or a render has none to mark.
      if (q === 'ingest' || q === 'bulk') w.on('failed', recordFailure);
      workers.push(w);
    }
  }
  if (lanes.has('bulk')) {
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
      if (--open === 0)
        void Promise.all([queue.close(), bulkQueue.close(), webhookQueue.close()]).catch(
          logFailure(deps.logger, 'producer queues did not close cleanly'),
        );
    });
  }
  return workers;
}

/** Stop taking jobs; wait for active ones up to `timeoutMs`, then leave them to stalled-job recovery. */
export async function closeWorkers(workers: Worker[], timeoutMs: number): Promise<void> {
  await Promise.race([Promise.all(workers.map((w) => w.close())), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  // Forced: what it cuts is left to stalled-job recovery, which is the point; an error here says no more.
  await Promise.all(workers.map((w) => w.close(true).catch(() => undefined)));
  // The exiftool processes would keep the event loop (and the process) alive.
  await endExifTool();
}
