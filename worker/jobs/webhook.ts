import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { UnrecoverableError, type Job } from 'bullmq';
import type { WebhookPayload } from '../../shared/jobs/webhook.js';
import type { Logger } from '../../shared/logger.js';
import { webhookDeliveries } from '../../shared/metrics.js';
import { ALLOW_PRIVATE_HINT, isLocalHostName, isPrivateAddress } from '../../shared/webhooks/address-policy.js';
import { signWebhook } from '../../shared/webhooks/signature.js';

export interface WebhookDeps {
  secret: string;
  timeoutMs: number;
  logger: Logger;
  /** WEBHOOK_ALLOW_PRIVATE: deliver to loopback/private addresses too. */
  allowPrivate: boolean;
}

/** A webhook whose host is (or resolves to) an address it may not go to: no retry helps. */
class RefusedAddressError extends Error {}

/**
 * Processor of a completion webhook (shared/jobs/webhook.ts): POST the body, signed,
 * with a fresh timestamp on each attempt. Any answer but 2xx, a timeout or a refused
 * connection throws, and BullMQ retries with exponential backoff up to WEBHOOK_ATTEMPTS.
 * Redirects are not followed: a signed body must go where it was addressed.
 *
 * The URL was checked when it was given, but a host name can resolve elsewhere by now:
 * unless WEBHOOK_ALLOW_PRIVATE, the connection is made only to addresses that are not
 * loopback, private or link-local, checked on the very addresses it connects to (so a
 * name that re-resolves between a check and the connect cannot slip through), and such
 * a webhook fails for good at once.
 */
export function webhookProcessor(deps: WebhookDeps) {
  return async (job: Job<WebhookPayload>): Promise<void> => {
    const { url, body, event, requestId } = job.data;
    const id = String(job.id);
    const timestamp = Math.floor(Date.now() / 1000);
    const target = new URL(url);
    let status: number;
    try {
      status = await post(target, body, deps, {
        'content-type': 'application/json',
        'user-agent': 'media-ingest-webhook/1',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(deps.secret, id, timestamp, body),
      });
    } catch (err) {
      webhookDeliveries.inc({ result: 'failed' });
      const message = `Webhook POST to ${target.origin} failed: ${(err as Error).message}`;
      if (err instanceof RefusedAddressError) throw new UnrecoverableError(message);
      throw new Error(message, { cause: err });
    }
    if (status < 200 || status > 299) {
      webhookDeliveries.inc({ result: 'failed' });
      throw new Error(`Webhook POST to ${target.origin} answered ${status}; expected 2xx.`);
    }
    webhookDeliveries.inc({ result: 'delivered' });
    deps.logger.info({ jobId: id, event, requestId, status, attempt: job.attemptsMade + 1 }, 'webhook delivered');
  };
}

function post(target: URL, body: string, deps: WebhookDeps, headers: Record<string, string>): Promise<number> {
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!deps.allowPrivate && (isPrivateAddress(host) || isLocalHostName(host))) {
    return Promise.reject(new RefusedAddressError(`${host} is a loopback, private or link-local address. ${ALLOW_PRIVATE_HINT}`));
  }
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(deps.timeoutMs),
        // An IP literal connects without a lookup; it was checked above.
        ...(deps.allowPrivate || isIP(host) ? {} : { lookup: publicOnlyLookup }),
      },
      (res) => {
        // Drain: an unread body keeps the connection (and memory) busy.
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails when any address of the name is one webhooks may not reach. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused)
      return callback(
        new RefusedAddressError(
          `${hostname} resolves to ${refused.address}, a loopback, private or link-local address. ${ALLOW_PRIVATE_HINT}`,
        ),
        [],
      );
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}
