import type { JobsOptions } from 'bullmq';
import { COMPLETED_KEPT } from './retention.js';

/**
 * A completion webhook: one signed POST to a client's URL when a resource is ready or
 * failed. Processor: worker/jobs/webhook.ts. Its own queue in the ingest lane (the
 * lane whose outcome it reports): a receiver that is down retries with backoff on
 * this queue and never holds an ingest slot.
 */
export const WEBHOOK_QUEUE = 'webhook';

export type WebhookEvent = 'resource.ready' | 'resource.failed';

export interface WebhookPayload {
  url: string;
  event: WebhookEvent;
  /** The JSON body, fixed when the job is queued: every retry sends the same bytes. */
  body: string;
  /** Of the upload that led here, for the logs. */
  requestId?: string;
}

/** One webhook per ingest job run to its end: queued again after a crash, it is still one. */
export function webhookJobId(ingestJobId: string): string {
  return `webhook-${ingestJobId}`;
}

export function webhookJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    // 1 s, 2 s, 4 s … 128 s at the 8th: a receiver restarting or deploying is waited out.
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: 24 * 3600, count: COMPLETED_KEPT },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}
