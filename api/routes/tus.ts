import { Hono, type Context } from 'hono';
import { releaseDeadline } from '../middleware/request-timeout.js';
import { InvalidRequestError, PreconditionFailedError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import type { Library } from '../../shared/model.js';
import { TUS_FIELD_KEYS, type TusCompletion } from '../../shared/services/tus-service.js';
import type { TusUpload } from '../../shared/upload/tus-state.js';
import { sanitizeFileName } from '../../shared/upload/file-name.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { failureOf, requestedWaitSeconds, waitAndRespond } from '../wait.js';
import { requestBody } from '../upload/intake.js';

const TUS_VERSION = '1.0.0';
const EXTENSIONS = 'creation,creation-with-upload,termination,expiration,checksum';
const OFFSET_TYPE = 'application/offset+octet-stream';
/** Longest Upload-Metadata header taken (names, titles and tags, base64). */
const MAX_METADATA_BYTES = 64 * 1024;

const COLLECTION = '/v1/libraries/:library/tus';
const UPLOAD = '/v1/libraries/:library/tus/:id';

/**
 * Resumable uploads, tus 1.0.0 (https://tus.io/protocols/resumable-upload): core,
 * creation, creation-with-upload, termination, expiration and checksum (sha256). HTTP
 * only — the state machine is shared/services/tus-service.ts. Mounted under /v1, so the
 * Bearer key check, rate limit and scopes of every /v1 route apply.
 *
 * Beyond tus: a finished upload is a resource. The final PATCH's answer and every later
 * HEAD carry `X-Resource-Id` and a `Link` to the job; HEAD also tells the processing
 * outcome (`X-Resource-Status`, and on failure `X-Resource-Error-Code` and
 * `X-Resource-Error`), and `?wait=N` / `Prefer: wait=N` on the final PATCH waits for it
 * as a multipart upload does (204 when processed, the failure's status and reason).
 */
export function tusRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.use(`${COLLECTION}/*`, tusHeaders);
  app.use(COLLECTION, tusHeaders);

  app.options(COLLECTION, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    c.header('Tus-Version', TUS_VERSION);
    c.header('Tus-Extension', EXTENSIONS);
    c.header('Tus-Checksum-Algorithm', 'sha256');
    c.header('Tus-Max-Size', String(deps.tus.limitOf(library)));
    return c.body(null, 204);
  });

  app.post(COLLECTION, async (c) => {
    // Authenticated: creation-with-upload's bytes may take as long as they take (idle timeout aside).
    releaseDeadline(c);
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    if (c.req.header('upload-defer-length') !== undefined) {
      throw new InvalidRequestError(
        'Upload-Defer-Length is not supported (the creation-defer-length extension is not offered); send Upload-Length.',
      );
    }
    const length = parseIntHeader(c, 'upload-length');
    if (length === undefined) throw new InvalidRequestError('Expected an Upload-Length header (the file size in bytes) but received none.');
    if (length === 0) throw new InvalidRequestError('Upload-Length is 0: the file is empty; send a file with content.');
    const rawMetadata = c.req.header('upload-metadata') ?? '';
    const meta = parseMetadata(rawMetadata);
    const fields: Record<string, string> = {};
    for (const k of TUS_FIELD_KEYS) if (meta[k] !== undefined) fields[k] = meta[k];
    const fileType = meta.filetype && meta.filetype !== 'application/octet-stream' ? meta.filetype.slice(0, 200) : null;
    let upload = await deps.tus.create({
      library,
      length,
      fileName: sanitizeFileName(meta.filename),
      fileType,
      fields,
      metadata: rawMetadata,
    });
    c.header('Location', `/v1/libraries/${encodeURIComponent(c.req.param('library'))}/tus/${upload.id}`);
    c.header('Upload-Expires', new Date(upload.expiresAt).toUTCString());

    // creation-with-upload: the body is the first bytes.
    const type = c.req.header('content-type');
    const declared = parseIntHeader(c, 'content-length');
    if (type !== undefined && mediaType(type) === OFFSET_TYPE && declared !== 0) {
      const r = await patch(c, deps, library, upload.id, 0);
      if (r.response) return r.response;
      upload = r.upload;
    }
    c.header('Upload-Offset', String(upload.offset));
    return c.body(null, 201);
  });

  // Hono answers HEAD with the GET route's headers and no body.
  app.get(UPLOAD, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    const u = await deps.tus.get(c.req.param('id'), library.id);
    c.header('Cache-Control', 'no-store');
    c.header('Upload-Offset', String(u.status === 'done' ? u.length : u.offset));
    c.header('Upload-Length', String(u.length));
    if (u.metadata) c.header('Upload-Metadata', u.metadata);
    const completion = deps.tus.completionOf(u);
    if (completion) await outcomeHeaders(c, deps, completion);
    else c.header('Upload-Expires', new Date(u.expiresAt).toUTCString());
    return c.body(null, 200);
  });

  app.patch(UPLOAD, async (c) => {
    releaseDeadline(c);
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    const type = c.req.header('content-type');
    if (type === undefined || mediaType(type) !== OFFSET_TYPE) {
      c.header('Connection', 'close');
      throw new UnsupportedMediaTypeError(OFFSET_TYPE, type);
    }
    const offset = parseIntHeader(c, 'upload-offset');
    if (offset === undefined)
      throw new InvalidRequestError('Expected an Upload-Offset header (where these bytes start) but received none.');
    const r = await patch(c, deps, library, c.req.param('id'), offset);
    if (r.response) return r.response;
    c.header('Upload-Offset', String(r.upload.offset));
    return c.body(null, 204);
  });

  app.delete(UPLOAD, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    await deps.tus.terminate(c.req.param('id'), library.id);
    return c.body(null, 204);
  });

  return app;
}

/** Every tus answer says the protocol version; every request but OPTIONS must name it. */
async function tusHeaders(c: Context, next: () => Promise<void>) {
  c.header('Tus-Resumable', TUS_VERSION);
  if (c.req.method !== 'OPTIONS') {
    const v = c.req.header('tus-resumable');
    if (v !== TUS_VERSION) {
      c.header('Tus-Version', TUS_VERSION);
      c.header('Connection', 'close');
      throw new PreconditionFailedError(
        `Expected Tus-Resumable: ${TUS_VERSION} but received ${v === undefined ? 'none' : JSON.stringify(v.slice(0, 20))}.`,
        { supported: [TUS_VERSION] },
      );
    }
  }
  await next();
}

/**
 * Write the request body at `offset`. On the last byte: the completion headers, and with
 * `wait` the processed answer (returned as `response`).
 */
async function patch(
  c: Context,
  deps: AppDeps,
  library: Library,
  id: string,
  offset: number,
): Promise<{ upload: TusUpload; response?: Response }> {
  const waitSeconds = requestedWaitSeconds(c, deps.config.uploads.waitMaxSeconds);
  const checksum = parseChecksum(c.req.header('upload-checksum'));
  const contentLength = parseIntHeader(c, 'content-length');
  const { body } = requestBody(c);
  let result;
  try {
    result = await deps.tus.write(id, library.id, offset, body, {
      ...(checksum ? { checksum } : {}),
      ...(contentLength !== undefined ? { contentLength } : {}),
    });
  } catch (err) {
    // Whatever of the body is unread is not wanted: close rather than drain it.
    if (!body.readableEnded) c.header('Connection', 'close');
    throw err;
  }
  const { upload, completion } = result;
  if (!completion) {
    c.header('Upload-Expires', new Date(upload.expiresAt).toUTCString());
    return { upload };
  }
  c.header('Upload-Offset', String(upload.length));
  if (waitSeconds !== undefined && waitSeconds > 0) {
    c.header('X-Resource-Id', String(completion.resourceId));
    c.header('Link', links(completion));
    const target = { resourceId: completion.resourceId, fileVersion: completion.fileVersion, jobId: completion.jobId };
    const response = await waitAndRespond(c, deps.waiter, [target], waitSeconds, async () => {
      await outcomeHeaders(c, deps, completion);
      return c.body(null, 204);
    });
    // A processed upload says so too (204 from waitAndRespond carries X-Resource-Id).
    if (response.status === 204) response.headers.set('X-Resource-Status', response.headers.get('X-Resource-Status') ?? 'ready');
    return { upload, response };
  }
  await outcomeHeaders(c, deps, completion);
  return { upload };
}

/** What the finished upload became and how its processing stands. */
async function outcomeHeaders(c: Context, deps: AppDeps, completion: TusCompletion): Promise<void> {
  const target = { resourceId: completion.resourceId, fileVersion: completion.fileVersion, jobId: completion.jobId };
  const [state] = await deps.waiter.states([target]);
  const failure = state ? failureOf(state) : undefined;
  const resolved = state?.outcome?.kind === 'reused' ? state.outcome.resolvedTo : completion.resourceId;
  c.header('X-Resource-Id', String(resolved));
  c.header('Link', links(completion));
  if (failure) {
    c.header('X-Resource-Status', 'failed');
    c.header('X-Resource-Error-Code', failure.code);
    c.header('X-Resource-Error', headerText(failure.detail));
  } else {
    const stale = !state?.record || state.record.fileVersion !== completion.fileVersion;
    c.header('X-Resource-Status', stale ? 'ready' : state.record!.status);
  }
}

function links(x: TusCompletion): string {
  return `</v1/jobs/${x.jobId}>; rel="job", </v1/resources/${x.resourceId}>; rel="resource"`;
}

/** A header value must be Latin-1 without controls: percent-encode anything else, cap the length. */
function headerText(s: string): string {
  return s.slice(0, 1000).replace(/[^\x20-\x7e]/g, (ch) => encodeURIComponent(ch));
}

function parseIntHeader(c: Context, name: string): number | undefined {
  const raw = c.req.header(name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) {
    throw new InvalidRequestError(`Expected ${name} to be a whole number of bytes but received ${JSON.stringify(raw.slice(0, 30))}.`);
  }
  return Number(raw);
}

function mediaType(type: string): string {
  return type.split(';')[0]!.trim().toLowerCase();
}

/** Upload-Metadata: comma-separated `key base64value` pairs (the value may be absent). */
export function parseMetadata(raw: string): Record<string, string> {
  if (raw.length > MAX_METADATA_BYTES)
    throw new InvalidRequestError(`Expected Upload-Metadata of at most ${MAX_METADATA_BYTES} bytes but received ${raw.length}.`);
  const out: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const item = pair.trim();
    if (item === '') continue;
    const m = /^([^\s,]+)(?: ([A-Za-z0-9+/]*={0,2}))?$/.exec(item);
    if (!m)
      throw new InvalidRequestError(
        `Expected Upload-Metadata as "key base64value" pairs separated by commas but one pair is ${JSON.stringify(item.slice(0, 40))}.`,
      );
    out[m[1]!] = Buffer.from(m[2] ?? '', 'base64').toString('utf8');
  }
  return out;
}

/** Upload-Checksum: `sha256 <base64 digest>`; other algorithms are refused (400), as tus says. */
function parseChecksum(raw: string | undefined): Buffer | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(raw.trim());
  if (!m)
    throw new InvalidRequestError(`Expected Upload-Checksum as "sha256 <base64 digest>" but received ${JSON.stringify(raw.slice(0, 80))}.`);
  if (m[1]!.toLowerCase() !== 'sha256')
    throw new InvalidRequestError(
      `Upload-Checksum algorithm "${m[1]!.slice(0, 20)}" is not supported; use sha256 (Tus-Checksum-Algorithm).`,
    );
  const digest = Buffer.from(m[2]!, 'base64');
  if (digest.length !== 32)
    throw new InvalidRequestError(`Expected a SHA-256 digest of 32 bytes in Upload-Checksum but it decodes to ${digest.length}.`);
  return digest;
}
