import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { Config } from '../shared/config.js';
import { INGEST_QUEUE, type IngestPayload } from '../shared/jobs/ingest.js';
import type { Logger } from '../shared/logger.js';
import { keyPrefix } from '../shared/redis.js';
import type { ObjectStore } from '../shared/storage/object-store.js';
import { RENDER_QUEUE, type RenderPayload } from '../shared/jobs/render.js';
import { tuneImaging } from './imaging/tuning.js';
import { ingestProcessor } from './jobs/ingest.js';
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
  const ingest = new Worker<IngestPayload>(INGEST_QUEUE, ingestProcessor(deps), {
    connection: deps.connection,
    prefix: keyPrefix(deps.redisPrefix),
    concurrency: deps.concurrency,
    // A job whose worker died is picked up again after this long (stalled-job recovery).
    stalledInterval: 30_000,
    maxStalledCount: 2,
  });
  ingest.on('error', (err) => deps.logger.error({ err }, 'worker error'));
  ingest.on('failed', (job, err) => {
    // Covers jobs failed outside the processor (stalled too often): the record must not stay "processing".
    if (!job) return;
    const { resourceId, fileVersion } = job.data;
    void deps.catalog
      .getResource(resourceId)
      .then((r) => {
        if (r && r.fileVersion === fileVersion && r.status === 'processing' && job.finishedOn) {
          return deps.catalog.updateResource(resourceId, fileVersion, { status: 'failed', error: err.message, errorCode: 'internal' });
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
    maxStalledCount: 2,
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
}
