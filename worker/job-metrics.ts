import type { Job, Worker } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { jobDuration, jobFailures } from '../shared/metrics.js';

/**
 * Job duration and failures per queue and job type (shared/metrics.ts), and one log
 * line per finished attempt carrying the request id of the upload that caused it, so
 * `requestId` greps from the API's access log to the worker's outcome.
 */
export function observeJobs(worker: Worker, logger: Logger): void {
  const queue = worker.name;
  worker.on('active', (job: Job) => {
    logger.debug({ queue, job: job.name, jobId: job.id, requestId: requestIdOf(job) }, 'job started');
  });
  worker.on('completed', (job: Job) => {
    const seconds = elapsed(job);
    if (seconds !== undefined) jobDuration.observe({ queue, job: job.name, outcome: 'completed' }, seconds);
    logger.info({ queue, job: job.name, jobId: job.id, requestId: requestIdOf(job), ms: msOf(seconds) }, 'job completed');
  });
  worker.on('failed', (job: Job | undefined, err: Error) => {
    if (!job) return;
    // BullMQ sets finishedOn only when the job has failed for good; a retried attempt
    // goes back to the queue without it.
    const final = job.finishedOn !== undefined;
    const seconds = elapsed(job);
    if (seconds !== undefined) jobDuration.observe({ queue, job: job.name, outcome: final ? 'failed' : 'retry' }, seconds);
    jobFailures.inc({ queue, job: job.name, final: String(final) });
    logger.warn(
      { queue, job: job.name, jobId: job.id, requestId: requestIdOf(job), final, reason: err.message, ms: msOf(seconds) },
      'job failed',
    );
  });
}

function elapsed(job: Job): number | undefined {
  const end = job.finishedOn ?? Date.now();
  return job.processedOn ? Math.max(0, end - job.processedOn) / 1000 : undefined;
}

function msOf(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * 1000);
}

function requestIdOf(job: Job): string | undefined {
  const data = job.data as { requestId?: unknown } | undefined;
  return typeof data?.requestId === 'string' ? data.requestId : undefined;
}
