import type { JobsOptions } from 'bullmq';
import type { IngestPayload } from './ingest.js';
import { COMPLETED_KEPT } from './retention.js';

/**
 * Revert: process a stored original again, as if it had been uploaded again (without
 * `no_exif`), with no new upload. Processor: worker/jobs/reprocess.ts.
 *
 * A revert of one resource asked for through the API runs on the ingest queue (someone
 * is waiting for it); a bulk revert's jobs run on the bulk lane's queue
 * (shared/jobs/lanes.ts), with slots of their own and a rate limit, so neither uploads
 * nor the bulk revert can starve the other.
 */
export const REPROCESS_JOB = 'reprocess';

export interface ReprocessOptions {
  /** Run exiftool on the original again instead of re-mapping the stored tag set. */
  reread: boolean;
  /** Render the renditions again too. */
  renditions: boolean;
}

export interface ReprocessPayload extends IngestPayload, ReprocessOptions {
  /** Set for a bulk revert's jobs: where the outcome is counted. */
  batchId?: number;
}

/**
 * Lower number = higher priority in BullMQ, and jobs with none come before all
 * prioritised ones. A bulk revert yields to everything else on the queue.
 */
export const BULK_REPROCESS_PRIORITY = 1_000;

/**
 * One revert of a resource requested through the API: the sequence number makes each
 * request its own job. Shares the `ingest-` form so job status and waiting work for it
 * (see parseReprocessJobId).
 */
export function reprocessJobId(resourceId: number, fileVersion: number, seq: number): string {
  return `ingest-${resourceId}-${fileVersion}-r${seq}`;
}

/**
 * A bulk revert's job for one resource: deterministic, so a page the fan-out enqueues
 * again after a crash adds nothing twice.
 */
export function batchReprocessJobId(resourceId: number, fileVersion: number, batchId: number): string {
  return `ingest-${resourceId}-${fileVersion}-b${batchId}`;
}

export function parseReprocessJobId(jobId: string): { resourceId: number; fileVersion: number } | undefined {
  const m = /^ingest-(\d{1,15})-(\d{1,9})-[rb]\d{1,15}$/.exec(jobId);
  return m ? { resourceId: Number(m[1]), fileVersion: Number(m[2]) } : undefined;
}

export function reprocessJobOptions(attempts: number, bulk: boolean): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 1_000 },
    ...(bulk ? { priority: BULK_REPROCESS_PRIORITY } : {}),
    // A bulk revert of millions must not leave millions of finished jobs in Redis; the
    // batch counters and the records are the lasting truth.
    removeOnComplete: bulk ? { age: 3600, count: COMPLETED_KEPT } : { age: 24 * 3600, count: COMPLETED_KEPT },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}
