import type { Job } from 'bullmq';
import type { WebhookPayload } from '../../shared/jobs/webhook.js';
import type { Logger } from '../../shared/logger.js';
import { webhookDeliveries } from '../../shared/metrics.js';
import { signWebhook } from '../../shared/webhooks/signature.js';

export interface WebhookDeps {
  secret: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * Processor of a completion webhook (shared/jobs/webhook.ts): POST the body, signed,
 * with a fresh timestamp on each attempt. Any answer but 2xx, a timeout or a refused
 * connection throws, and BullMQ retries with exponential backoff up to WEBHOOK_ATTEMPTS.
 * Redirects are not followed: a signed body must go where it was addressed.
 */
export function webhookProcessor(deps: WebhookDeps) {
  return async (job: Job<WebhookPayload>): Promise<void> => {
    const { url, body, event, requestId } = job.data;
    const id = String(job.id);
    const timestamp = Math.floor(Date.now() / 1000);
    let status: number;
    try {
      const res = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'media-ingest-webhook/1',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(deps.secret, id, timestamp, body),
        },
        body,
      });
      status = res.status;
      // Drain: an unread body keeps the connection (and memory) busy.
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      webhookDeliveries.inc({ result: 'failed' });
      throw new Error(`Webhook POST to ${new URL(url).origin} failed: ${(err as Error).message}`, { cause: err });
    }
    if (status < 200 || status > 299) {
      webhookDeliveries.inc({ result: 'failed' });
      throw new Error(`Webhook POST to ${new URL(url).origin} answered ${status}; expected 2xx.`);
    }
    webhookDeliveries.inc({ result: 'delivered' });
    deps.logger.info({ jobId: id, event, requestId, status, attempt: job.attemptsMade + 1 }, 'webhook delivered');
  };
}
