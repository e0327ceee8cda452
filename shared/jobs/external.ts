import type { JobsOptions } from 'bullmq';
import type { IngestPayload } from './ingest.js';

/**
 * External libraries' jobs (docs/external-libraries.md), all on the bulk lane's queue
 * (shared/jobs/lanes.ts): a scan of two million files must not hold up a fresh upload.
 * Processors: worker/jobs/external-scan.ts.
 *
 * - `external-scan`: one step of a scan batch — pages through the source's listing from
 *   the batch's cursor, then through the library's resources to mark what is gone;
 *   queues its successor, like a bulk revert's fan-out step.
 * - `external-ingest`: the ingest job of one entry's file version, counted in its batch.
 * - `external-sync`: keys a bucket notification named, checked against the source.
 * - `external-poll`: repeatable, one per library with a source; starts a scan unless one runs.
 */
export const EXTERNAL_SCAN_JOB = 'external-scan';
export const EXTERNAL_INGEST_JOB = 'external-ingest';
export const EXTERNAL_SYNC_JOB = 'external-sync';
export const EXTERNAL_POLL_JOB = 'external-poll';

export interface ExternalScanPayload {
  batchId: number;
  step: number;
}

export interface ExternalIngestPayload extends IngestPayload {
  /** The scan that queued it, where its outcome is counted; none for an event's. */
  batchId?: number;
}

export interface ExternalSyncPayload {
  libraryId: number;
  /** Keys of the source (already without URL encoding). */
  keys: string[];
}

export interface ExternalPollPayload {
  libraryId: number;
}

export function externalScanJobId(batchId: number, step: number): string {
  return `external-scan-${batchId}-s${step}`;
}

/** The scheduler (repeatable job) of one library's polling or reconcile. */
export function externalPollSchedulerId(libraryId: number): string {
  return `external-poll-${libraryId}`;
}

export function externalStepOptions(): JobsOptions {
  return {
    // Redis or source hiccups fail a step; a listing that fails for good fails the batch instead.
    attempts: 10,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { age: 24 * 3600, count: 1_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
  };
}
