/**
 * Typed errors, raised where the problem is found. Each carries a stable `code`;
 * `api/error-handler.ts` is the one table from code to HTTP status, and the worker
 * records the code on a failed resource so a waiting client gets the same status.
 *
 * Messages say what was expected and what came, so the reader knows what to change.
 */
export type ErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'invalid_request'
  | 'malformed_multipart'
  | 'no_file'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'conflict'
  | 'duplicate'
  | 'unreadable_file'
  | 'render_pending'
  | 'storage_unavailable'
  | 'catalog_unavailable'
  | 'client_aborted'
  | 'rate_limited'
  | 'metadata_timeout'
  | 'upstream_failed'
  | 'precondition_failed'
  | 'gone'
  | 'locked'
  | 'checksum_mismatch'
  | 'internal';

/**
 * Whether a job that failed with the code may succeed when run again: the one answer
 * every worker reads (ingest, render, …). Not retryable: the input or the request is
 * wrong and stays wrong (a corrupt file, a duplicate, a deleted library). Retryable:
 * something outside the input failed (storage, Redis, a timeout, an upstream, a bug).
 */
export const RETRYABLE: Readonly<Record<ErrorCode, boolean>> = {
  unauthorized: false,
  forbidden: false,
  not_found: false,
  invalid_request: false,
  malformed_multipart: false,
  no_file: false,
  unsupported_media_type: false,
  payload_too_large: false,
  conflict: true,
  duplicate: false,
  unreadable_file: false,
  render_pending: true,
  storage_unavailable: true,
  catalog_unavailable: true,
  client_aborted: true,
  rate_limited: true,
  metadata_timeout: true,
  upstream_failed: true,
  precondition_failed: false,
  gone: false,
  locked: true,
  checksum_mismatch: false,
  internal: true,
};

/** The code of any thrown value: an AppError's own, else `internal`. */
export function errorCodeOf(err: unknown): ErrorCode {
  return err instanceof AppError ? err.code : 'internal';
}

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra members for the problem+json body (RFC 9457 extension members). */
  readonly extra: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.extra = extra;
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Send a valid API key as "Authorization: Bearer <key>".') {
    super('unauthorized', message);
  }
}

/** A valid key used outside what it may do: another library, or a permission it lacks (issue 21). */
export class ForbiddenError extends AppError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('forbidden', message, extra);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string | number) {
    super('not_found', `No ${what} "${id}" exists.`, { [what]: id });
  }
}

export class InvalidRequestError extends AppError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('invalid_request', message, extra);
  }
}

export class MalformedMultipartError extends AppError {
  constructor(detail: string, options?: ErrorOptions) {
    super('malformed_multipart', `The multipart/form-data body could not be parsed: ${detail}`, {}, options);
  }
}

export class NoFilePartError extends AppError {
  constructor() {
    super('no_file', 'The request has no file part. Send at least one part with a filename, e.g. curl -F "file=@photo.jpg".');
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(expected: string, received: string | undefined) {
    super('unsupported_media_type', `Expected Content-Type ${expected} but received ${received ? `"${received}"` : 'none'}.`, { expected });
  }
}

export class PayloadTooLargeError extends AppError {
  readonly limit: number;
  constructor(limit: number, what = 'file') {
    super('payload_too_large', `The ${what} exceeds the maximum upload size of ${formatBytes(limit)} (${limit} bytes).`, { limit });
    this.limit = limit;
  }
}

export class ConflictError extends AppError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('conflict', message, extra);
  }
}

/**
 * The bytes already exist in the library and its policy is `reject`. The message is
 * ResourceSpace's, word for word: its clients match on it.
 */
export class DuplicateFileError extends AppError {
  readonly matches: number[];
  constructor(matches: number[]) {
    super('duplicate', `Duplicate file upload, file matches resources: ${matches.join(', ')}`, { matches });
    this.matches = matches;
  }
}

/** The stored file cannot be processed and never will be (corrupt, truncated, unsupported). */
export class UnreadableFileError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('unreadable_file', message, {}, options);
  }
}

/** An on-demand rendition is still being rendered when the request stops waiting; retry shortly. */
export class RenderPendingError extends AppError {
  constructor(seconds: number) {
    super(
      'render_pending',
      `The rendition is still being rendered after ${seconds} s; retry in a few seconds (or raise IMAGE_RENDER_WAIT_SECONDS).`,
    );
  }
}

/**
 * exiftool did not finish reading a file in time. Transient (retried: the exiftool
 * process is replaced), and after the last attempt the resource fails with this
 * reason — never "ready" with no metadata.
 */
export class MetadataTimeoutError extends AppError {
  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(
      'metadata_timeout',
      `exiftool did not finish reading the file within ${timeoutMs} ms (EXIFTOOL_TASK_TIMEOUT_MS); raise the limit or re-upload with no_exif=1.`,
      { timeoutMs },
      options,
    );
  }
}

/** The key used up its requests for this window (RATE_LIMIT_PER_MINUTE, counted across all API replicas). */
export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(limit: number, retryAfterSeconds: number) {
    super(
      'rate_limited',
      `This API key sent more than ${limit} requests in a minute; retry in ${retryAfterSeconds} s (Retry-After), or spread the requests out.`,
      { limit, retryAfter: retryAfterSeconds },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Too many failed authentications from one client address (AUTH_FAILURES_PER_MINUTE, across all API replicas). */
export class AuthThrottledError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(limit: number, retryAfterSeconds: number) {
    super(
      'rate_limited',
      `More than ${limit} failed authentications came from your address in a minute; retry in ${retryAfterSeconds} s (Retry-After) with the right credential.`,
      { limit, retryAfter: retryAfterSeconds },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A remote source the server was asked to fetch from (Flotiq's Unsplash import) failed or refused. */
export class UpstreamError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('upstream_failed', message, {}, options);
  }
}

/** A precondition header has another value than the server supports (tus: `Tus-Resumable`). */
export class PreconditionFailedError extends AppError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('precondition_failed', message, extra);
  }
}

/** The thing existed but is gone for good (an expired resumable upload). */
export class GoneError extends AppError {
  constructor(message: string) {
    super('gone', message);
  }
}

/** Another request holds the thing right now (a resumable upload being written); retry shortly. */
export class LockedError extends AppError {
  constructor(message: string) {
    super('locked', message);
  }
}

/** The bytes of a request do not match the checksum the client sent with them (tus checksum extension). */
export class ChecksumMismatchError extends AppError {
  constructor(message: string) {
    super('checksum_mismatch', message);
  }
}

/** Object storage did not answer or refused; transient, worth a retry. */
export class StorageUnavailableError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('storage_unavailable', `Object storage is unavailable: ${message}`, {}, options);
  }
}

export class CatalogUnavailableError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('catalog_unavailable', `The catalog (Redis) is unavailable: ${message}`, {}, options);
  }
}

/** The client went away mid-request; nothing is answered, everything is cleaned up. */
export class ClientAbortedError extends AppError {
  constructor() {
    super('client_aborted', 'The client closed the connection before the request body was complete.');
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
