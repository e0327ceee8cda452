import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { httpDuration } from '../../shared/metrics.js';
import type { Logger } from '../../shared/logger.js';
import { runInRequest } from '../../shared/request-context.js';
import type { AppEnv } from '../deps.js';

/**
 * One JSON line per request (after the response headers are ready), the HTTP latency
 * histogram, and the request context: everything that runs for this request — the
 * upload service enqueueing jobs — knows its id (shared/request-context.ts). Goes right
 * after `requestId()`, before everything else, so it sees refusals (401, 429) too.
 */
export function accessLog(logger: Logger): MiddlewareHandler<AppEnv> {
  const log = logger.child({ component: 'http' });
  return async (c, next) => {
    const started = process.hrtime.bigint();
    const requestId = c.get('requestId');
    await runInRequest({ requestId }, next);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = c.res.status;
    // The pattern that answered (`/v1/resources/:id`), never the path: ids in labels
    // would make one time series per resource.
    const route = c.res.status === 404 && routePath(c).includes('*') ? 'unmatched' : routePath(c) || 'unmatched';
    httpDuration.observe({ method: c.req.method, route, status: String(status) }, seconds);
    log.info(
      {
        requestId,
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        ms: Math.round(seconds * 1e4) / 10,
        bytesIn: Number(c.req.header('content-length') ?? 0) || undefined,
        remote: c.req.header('x-forwarded-for'),
      },
      'request',
    );
  };
}
