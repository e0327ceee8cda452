import type { JobsOptions } from 'bullmq';
import { BULK_REPROCESS_PRIORITY } from './reprocess.js';
import { COMPLETED_KEPT } from './retention.js';

/**
 * A page of a bulk re-map: the current field mappings applied to the tag sets stored
 * at ingest (each resource's record.json), for up to REMAP_PAGE_SIZE resources in one
 * job — no download, no exiftool. The fan-out (worker/jobs/reprocess-batch.ts) queues
 * one per page when a batch neither re-reads the files nor renders; a batch that does
 * (`reread`, `renditions`) keeps one `reprocess` job per resource, since each needs the
 * original and exiftool or sharp. A resource the page cannot finish from its stored
 * tags (no tag set, no_exif, a storage error) is handed to that per-resource job.
 * Processor: worker/jobs/remap-page.ts. Runs on the bulk lane's queue, where the
 * limiter (BULK_JOBS_PER_SECOND) counts it as one job.
 */
export const REMAP_PAGE_JOB = 'remap-page';

export interface RemapPagePayload {
  batchId: number;
  /** The page's resources with the file version the fan-out saw: [id, fileVersion]. */
  items: [number, number][];
}

/**
 * Named after the batch and the page's first id: the fan-out pages through ids in
 * ascending order, so a page queued again after a crash adds nothing twice. Ends in
 * `-b{batch}` like a batch's per-resource jobs (reindex reads the batch id from it).
 */
export function remapPageJobId(batchId: number, firstId: number): string {
  return `remap-${firstId}-b${batchId}`;
}

export function remapPageJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 1_000 },
    priority: BULK_REPROCESS_PRIORITY,
    removeOnComplete: { age: 3600, count: COMPLETED_KEPT },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}
