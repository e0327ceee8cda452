import type { JobsOptions } from 'bullmq';

/**
 * The fan-out of a bulk revert (`POST /v1/reprocess`): each run pages through a
 * catalog index from the batch's cursor, enqueues a `reprocess` job per matching
 * resource (low priority), moves the cursor, and queues its own successor. Each run is
 * short, so it never holds a worker slot long, and a batch over 100 million resources
 * is a chain of small steps. Processor: worker/jobs/reprocess-batch.ts. It runs on the
 * bulk lane's queue (shared/jobs/lanes.ts), like the jobs it enqueues.
 */
export const REPROCESS_BATCH_JOB = 'reprocess-batch';

export interface ReprocessBatchPayload {
  batchId: number;
  /** Position in the chain; names the job, so a step queued twice is one job. */
  step: number;
}

export function reprocessBatchJobId(batchId: number, step: number): string {
  return `reprocess-batch-${batchId}-s${step}`;
}

export function reprocessBatchJobOptions(): JobsOptions {
  return {
    // Only Redis hiccups fail a step; the chain must survive them.
    attempts: 20,
    backoff: { type: 'exponential', delay: 500 },
    // Kept for a while so that a step queued again (a re-run after a crash) is recognised by its id.
    removeOnComplete: { age: 24 * 3600, count: 1_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
  };
}
