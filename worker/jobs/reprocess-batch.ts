import type { Job, Queue } from 'bullmq';
import type { Catalog } from '../../shared/catalog/catalog.js';
import type { ReprocessBatchPayload } from '../../shared/jobs/reprocess-batch.js';
import { REMAP_PAGE_JOB, remapPageJobId, remapPageJobOptions, type RemapPagePayload } from '../../shared/jobs/remap-page.js';
import { batchReprocessJobId, REPROCESS_JOB, reprocessJobOptions, type ReprocessPayload } from '../../shared/jobs/reprocess.js';
import type { Logger } from '../../shared/logger.js';
import type { ReprocessService } from '../../shared/services/reprocess-service.js';

export interface ReprocessBatchDeps {
  catalog: Catalog;
  /** The bulk lane's queue, where the resources' jobs go (shared/jobs/lanes.ts). */
  queue: Queue;
  reprocess: ReprocessService;
  logger: Logger;
  chunkSize: number;
  maxQueued: number;
  /** Resources per re-map page (REMAP_PAGE_SIZE); 0: one job per resource. */
  pageSize: number;
  jobAttempts: number;
}

/** Pages one step may enqueue before handing over to its successor: keeps every step short. */
const PAGES_PER_STEP = 5;
/** A full window is looked at again after this long. */
const THROTTLE_DELAY_MS = 500;

/**
 * Processor of a bulk revert's fan-out step (shared/jobs/reprocess-batch.ts). A
 * re-map from stored tags is queued as pages of `pageSize` resources (one `remap-page`
 * job each); a re-read or re-render as one `reprocess` job per resource.
 *
 * Crash safety: the cursor moves only after a page's jobs are queued, by
 * compare-and-set. A step killed in between runs again (stalled-job recovery) from
 * the old cursor and queues the same job ids again — BullMQ keeps one job per id, and a
 * resource whose job already ran is counted once (the batch's bitmap). A second copy of
 * a step (its successor queued before the crash) loses the compare-and-set and stops,
 * so the chain never forks.
 *
 * Memory and Redis stay bounded: a page is `chunkSize` compact records, and no more
 * than `maxQueued` of the batch's resources wait in the queue at any time.
 */
export function reprocessBatchProcessor(deps: ReprocessBatchDeps) {
  return async (job: Job<ReprocessBatchPayload>): Promise<void> => {
    const { batchId, step } = job.data;
    const batches = deps.catalog.batches;
    let batch = await batches.get(batchId);
    // A scan of an external library has steps of its own (worker/jobs/external.ts).
    if (!batch || batch.state !== 'running' || batch.enqueuedAll || batch.kind === 'scan') return;
    const library = batch.library ?? undefined;

    for (let page = 0; page < PAGES_PER_STEP; page++) {
      const queued = batch.enqueued - batch.done - batch.failed - batch.skipped;
      if (queued + deps.chunkSize > deps.maxQueued && queued > 0) {
        await deps.reprocess.queueStep(batchId, step + 1, THROTTLE_DELAY_MS);
        return;
      }
      const cursor = batch.cursor;
      const { items, nextCursor } = await deps.catalog.listResources({ library, cursor: String(cursor), limit: deps.chunkSize });
      const last = nextCursor === null;
      const newCursor = nextCursor !== null ? Number(nextCursor) : (items.at(-1)?.id ?? cursor);
      // A resource still processing gets the current mappings from that run.
      const wanted = items.filter((r) => r.status !== 'processing' && (!batch!.staleOnly || r.mappingsVersion < batch!.mappingsVersion));
      // A re-map from stored tags goes in pages (worker/jobs/remap-page.ts); a re-read or
      // a re-render needs the original and exiftool or sharp per resource.
      const paged = !batch.reread && !batch.renditions && deps.pageSize > 0;
      if (wanted.length && paged) {
        const pages: RemapPagePayload[] = [];
        for (let i = 0; i < wanted.length; i += deps.pageSize) {
          pages.push({ batchId, items: wanted.slice(i, i + deps.pageSize).map((r) => [r.id, r.fileVersion]) });
        }
        await deps.queue.addBulk(
          pages.map((data) => ({
            name: REMAP_PAGE_JOB,
            data,
            opts: { ...remapPageJobOptions(deps.jobAttempts), jobId: remapPageJobId(batchId, data.items[0]![0]) },
          })),
        );
      } else if (wanted.length) {
        await deps.queue.addBulk(
          wanted.map((r) => ({
            name: REPROCESS_JOB,
            data: {
              resourceId: r.id,
              fileVersion: r.fileVersion,
              reread: batch!.reread,
              renditions: batch!.renditions,
              batchId,
            } satisfies ReprocessPayload,
            opts: { ...reprocessJobOptions(deps.jobAttempts, true), jobId: batchReprocessJobId(r.id, r.fileVersion, batchId) },
          })),
        );
      }
      if (!(await batches.advance(batchId, cursor, newCursor, items.length, wanted.length, last))) {
        deps.logger.info({ batchId, step }, 'batch moved on without this step (paused, cancelled or run by another copy); stopping');
        return;
      }
      if (last) {
        deps.logger.info({ batchId }, 'batch: every page enqueued');
        return;
      }
      batch = await batches.get(batchId);
      if (!batch || batch.state !== 'running') return;
      await job.updateProgress({ cursor: newCursor });
    }
    await deps.reprocess.queueStep(batchId, step + 1);
  };
}
