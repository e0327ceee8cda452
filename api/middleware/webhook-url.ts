import type { MiddlewareHandler } from 'hono';
import { currentRequest, runInRequest } from '../../shared/request-context.js';
import { parseWebhookUrl } from '../../shared/webhooks/webhook-url.js';

/**
 * The completion webhook of an upload: its own (`?webhook=<url>` or a `Webhook-Url`
 * header; headers keep the URL out of access logs), else its library's. Checked before
 * the body is read, and put into the request context, from where the upload service
 * puts it into each file's job. Resolved here rather than when the job ends, because a
 * rejected duplicate's record is gone by then, and with it which library it was in.
 */
export function webhookUrl(
  secret: string | undefined,
  allowPrivate: boolean,
  libraryWebhook: (library: string) => Promise<string | undefined>,
): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.header('webhook-url') ?? c.req.query('webhook');
    let url: string | undefined;
    if (raw !== undefined && raw !== '') url = parseWebhookUrl(raw, secret, allowPrivate);
    else if (secret && c.req.param('library')) url = await libraryWebhook(c.req.param('library')!);
    if (!url) return next();
    const ctx = currentRequest() ?? { requestId: c.get('requestId') as string };
    await runInRequest({ ...ctx, webhookUrl: url }, next);
  };
}
