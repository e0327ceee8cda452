import { createHash, timingSafeEqual } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { InvalidRequestError, NotFoundError, PayloadTooLargeError, UnauthorizedError } from '../../shared/errors.js';
import { ExternalService } from '../../shared/external/scan-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { rateLimit } from '../middleware/rate-limit.js';
import { problem } from '../schemas.js';
import { validationHook } from '../validation.js';
import { batchView } from '../views/batch.js';

/** A notification of a few hundred records is well under this. */
const MAX_EVENT_BODY = 1024 * 1024;
/** Keys one notification may name. */
const MAX_EVENT_KEYS = 1000;

const batch = z.object({ id: z.number().int(), state: z.string(), total: z.number(), percent: z.number() }).passthrough();

const scan = createRoute({
  method: 'post',
  path: '/v1/libraries/{library}/scan',
  tags: ['libraries'],
  summary: "Scan an external library's source: create, update or mark missing its resources",
  description:
    'Answers at once with a batch (the same batch routes as a bulk revert: progress, ETA, pause, resume, cancel). One scan per library runs at a time: asking again while one runs answers it.',
  security: [{ bearer: [] }],
  request: { params: z.object({ library: z.string().min(1).openapi({ description: 'Library id or name', example: 'nas-photos' }) }) },
  responses: {
    202: { description: 'The scan batch; `Location` of it', content: { 'application/json': { schema: batch } } },
    404: { description: 'No such library', content: problem },
    409: { description: 'The library has no source', content: problem },
  },
});

/** `POST /v1/libraries/{library}/scan`: behind the API key, like every /v1 route. */
export function externalRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const external = new ExternalService(deps);
  app.openapi(scan, async (c) => {
    const lib = await deps.catalog.getLibrary(c.req.valid('param').library);
    const { batch: b } = await external.startScan(lib);
    c.header('Location', `/v1/batches/${b.id}`);
    return c.json(batchView(b), 202);
  });
  return app;
}

/**
 * `POST /v1/libraries/{library}/events`: what a bucket's notification configuration
 * posts to — a MinIO webhook target or a Ceph RGW topic with an HTTP push endpoint. It
 * cannot send our API keys, so it authenticates with EXTERNAL_EVENTS_TOKEN, as
 * `Authorization: Bearer <token>` (MinIO's auth_token) or `?token=<token>` in the
 * endpoint URL (RGW). The body is the S3 event JSON (`{"Records":[{"eventName",
 * "s3":{"bucket":{"name"},"object":{"key"}}}]}`); the keys it names are checked against
 * the source by a worker job, so an event is only ever a hint. Like every way in, a
 * wrong token counts toward the failed-authentication throttle (AUTH_FAILURES_PER_MINUTE
 * per address → 429), and the right one draws on the rate limit (RATE_LIMIT_PER_MINUTE,
 * per token as per API key).
 */
export function externalEventRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();
  const external = new ExternalService(deps);
  const token = deps.config.external.eventsToken;
  const digest = token ? createHash('sha256').update(token).digest() : undefined;
  const tokenOf = (c: Context) => c.req.query('token') ?? /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
  const limit = rateLimit(deps.redis, deps.config.redis.prefix, deps.config.auth.rateLimitPerMinute, deps.logger, tokenOf);
  const route = '/v1/libraries/:library/events';
  const check: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!digest)
      throw new NotFoundError('route', 'POST /v1/libraries/{library}/events (set EXTERNAL_EVENTS_TOKEN to receive bucket notifications)');
    await throttle.guard(c, () => {
      if (!timingSafeEqual(createHash('sha256').update(tokenOf(c)).digest(), digest)) {
        throw new UnauthorizedError('Send EXTERNAL_EVENTS_TOKEN as "Authorization: Bearer <token>" or ?token=<token>.');
      }
    });
    await next();
  };
  app.post(route, check, limit, async (c) => {
    const lib = await deps.catalog.getLibrary(c.req.param('library'));
    if (lib.source?.type !== 's3')
      throw new InvalidRequestError(
        `Library "${lib.name}" has no s3 source; bucket notifications are for s3 sources (fs sources are polled).`,
      );
    const body = await readBody(c.req.raw);
    const keys = eventKeys(body, lib.source.bucket, lib.source.prefix);
    if (keys.length) await external.queueSync(lib, keys);
    return c.json({ accepted: keys.length }, 200);
  });
  return app;
}

async function readBody(req: Request): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > MAX_EVENT_BODY) throw new PayloadTooLargeError(MAX_EVENT_BODY, 'event body');
      chunks.push(chunk);
    }
  }
  // RGW's push and MinIO's webhook differ in Content-Type; the body is JSON either way.
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new InvalidRequestError('Expected the S3 event JSON ({"Records":[…]}) but the body is not JSON.');
  }
}

/** The keys of the records about this bucket and prefix, decoded (S3 URL-encodes them, spaces as "+"). */
export function eventKeys(body: unknown, bucket: string, prefix: string): string[] {
  const records = (body as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records))
    throw new InvalidRequestError('Expected the S3 event JSON with a "Records" array (what MinIO and Ceph RGW notifications send).');
  const keys = new Set<string>();
  for (const r of records) {
    const s3 = (r as { s3?: { bucket?: { name?: unknown }; object?: { key?: unknown } } } | null)?.s3;
    if (s3?.bucket?.name !== bucket || typeof s3.object?.key !== 'string') continue;
    let key: string;
    try {
      key = decodeURIComponent(s3.object.key.replace(/\+/g, ' '));
    } catch {
      continue;
    }
    if (key.startsWith(prefix) && !key.endsWith('/')) keys.add(key);
  }
  if (keys.size > MAX_EVENT_KEYS)
    throw new InvalidRequestError(`One notification may name at most ${MAX_EVENT_KEYS} keys (this one names ${keys.size}).`);
  return [...keys];
}
