import type { JobsOptions } from 'bullmq';
import { COMPLETED_KEPT } from './retention.js';

/** The ingest job: everything slow about a newly stored file. Processor: worker/jobs/ingest.ts. */
export const INGEST_QUEUE = 'ingest';

export interface IngestPayload {
  resourceId: number;
  fileVersion: number;
  /** Request id of the upload, so logs follow the file into the worker. */
  requestId?: string;
  /** Completion webhook of this upload; when absent, its library's (shared/jobs/webhook.ts). */
  webhookUrl?: string;
}

/**
 * Deterministic: one job per (resource, file version). Adding it twice is a no-op, so a
 * retried request or a re-run enqueue never processes a file twice. BullMQ rejects
 * integer-looking ids and reserves ':' — hence the dashes.
 */
export function ingestJobId(resourceId: number, fileVersion: number): string {
  return `ingest-${resourceId}-${fileVersion}`;
}

export function parseIngestJobId(jobId: string): { resourceId: number; fileVersion: number } | undefined {
  const m = /^ingest-(\d{1,15})-(\d{1,9})$/.exec(jobId);
  return m ? { resourceId: Number(m[1]), fileVersion: Number(m[2]) } : undefined;
}

export function ingestJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    // 1 s, 2 s, 4 s, …: long enough for a restarting store or Redis to come back.
    backoff: { type: 'exponential', delay: 1_000 },
    // The resource record is the lasting truth (job status is answered from it once
    // the job is gone); finished jobs are trimmed by count, so Redis does not grow
    // with the upload rate: ~1.2 KB a job, kept for a day, was most of the memory a
    // resource cost before issue 13 (shared/jobs/retention.ts).
    removeOnComplete: { age: 24 * 3600, count: COMPLETED_KEPT },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}
