import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { sanitizeDetail } from '../shared/error-detail.js';
import { AppError, type ErrorCode } from '../shared/errors.js';
import { ObjectNotFoundError } from '../shared/storage/object-store.js';
import { isRedisUnavailable } from '../shared/redis.js';
import type { Logger } from '../shared/logger.js';

/** The one table from error code to HTTP status. */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_request: 400,
  malformed_multipart: 400,
  no_file: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  conflict: 409,
  // 400, not 409: ResourceSpace clients expect it for a rejected duplicate.
  duplicate: 400,
  unreadable_file: 422,
  render_pending: 503,
  storage_unavailable: 503,
  catalog_unavailable: 503,
  client_aborted: 400,
  rate_limited: 429,
  metadata_timeout: 504,
  upstream_failed: 502,
  precondition_failed: 412,
  gone: 410,
  locked: 423,
  // tus' checksum extension names this status (https://tus.io/protocols/resumable-upload#checksum).
  checksum_mismatch: 460 as ContentfulStatusCode,
  internal: 500,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  423: 'Locked',
  429: 'Too Many Requests',
  460: 'Checksum Mismatch',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Seconds a client should wait before retrying when a dependency is down. */
const RETRY_AFTER_SECONDS = 5;

export interface Problem {
  status: ContentfulStatusCode;
  code: ErrorCode;
  detail: string;
  extra: Record<string, unknown>;
}

/** Any thrown value → the problem to report, its detail one clean line. Unknown errors become a 500 without internals. */
export function toProblem(err: unknown): Problem {
  const p = problemOf(err);
  return { ...p, detail: sanitizeDetail(p.detail) };
}

function problemOf(err: unknown): Problem {
  if (err instanceof AppError) return { status: STATUS_BY_CODE[err.code], code: err.code, detail: err.message, extra: err.extra };
  // Hono's own refusals (a schema route's content-type gate, malformed JSON) are the client's.
  if (err instanceof HTTPException && (err.status === 400 || err.status === 415)) {
    return { status: err.status, code: err.status === 415 ? 'unsupported_media_type' : 'invalid_request', detail: err.message, extra: {} };
  }
  if (err instanceof ObjectNotFoundError) {
    return { status: 404, code: 'not_found', detail: 'The stored file of this resource is missing.', extra: {} };
  }
  if (isRedisUnavailable(err)) {
    return { status: 503, code: 'catalog_unavailable', detail: 'The catalog (Redis) is unavailable; retry shortly.', extra: {} };
  }
  return {
    status: 500,
    code: 'internal',
    detail: 'An unexpected error occurred; the server log has the details under this request id.',
    extra: {},
  };
}

/** The RFC 9457 problem+json body (the `Problem` schema of api/schemas.ts): the one shape every error is rendered in. */
export function problemBody(
  p: { status: number; code: string; detail: string; extra?: Record<string, unknown> },
  instance: string,
  requestId?: string,
) {
  return {
    type: `urn:media-ingest:problem:${p.code}`,
    title: TITLES[p.status] ?? 'Error',
    status: p.status,
    detail: sanitizeDetail(p.detail),
    instance,
    code: p.code,
    requestId,
    ...p.extra,
  };
}

/** Renders an RFC 9457 problem+json response. */
export function problemResponse(c: Context, p: Problem, headers: Record<string, string> = {}): Response {
  const body = problemBody(p, c.req.path, c.get('requestId') as string | undefined);
  const h: Record<string, string> = { 'Content-Type': 'application/problem+json', ...headers };
  if (p.status === 503) h['Retry-After'] = String(RETRY_AFTER_SECONDS);
  if (p.status === 429 && typeof p.extra.retryAfter === 'number') h['Retry-After'] = String(p.extra.retryAfter);
  if (p.status === 401) h['WWW-Authenticate'] = 'Bearer realm="media-ingest"';
  return new Response(JSON.stringify(body), { status: p.status, headers: mergeHeaders(c, h) });
}

function mergeHeaders(c: Context, h: Record<string, string>): Headers {
  // Keep headers set earlier in the request (X-Request-Id, X-Resource-Id).
  const out = new Headers(c.res?.headers);
  out.delete('Content-Length');
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

export function errorHandler(logger: Logger) {
  return (err: unknown, c: Context): Response => {
    const p = toProblem(err);
    if (p.status >= 500) logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'request failed');
    else logger.debug({ code: p.code, detail: p.detail, requestId: c.get('requestId') }, 'request refused');
    return problemResponse(c, p);
  };
}
