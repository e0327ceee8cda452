import { readFile } from 'node:fs';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { ForbiddenError, InvalidRequestError, NotFoundError, UnauthorizedError } from '../../shared/errors.js';
import { signedImageUrl } from '../../shared/renditions/signing.js';
import type { ImageObject, ImageService } from '../../shared/services/image-service.js';
import { ObjectNotFoundError, type ByteRange } from '../../shared/storage/object-store.js';
import type { AppDeps, AppEnv } from '../deps.js';
import type { Access, ApiKeyAuth } from '../middleware/auth.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { mayUse } from '../middleware/scope.js';

/**
 * Nothing we serve may run as a page of our origin: no scripts, no plugins, no forms,
 * and (`sandbox`) a unique origin even if a browser renders an SVG or HTML original.
 */
/** A week: long enough for a cached page, short enough that a leaked URL dies. */
const MAX_TTL = 7 * 24 * 3600;

const CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

/**
 * `GET|HEAD /image/{w}x{h}/{id}.{ext}`: renditions and originals, streamed from object
 * storage (never decoded here). `0x0` is the original, with `Range`; other sizes are
 * stored renditions, or rendered on demand by the worker and then streamed.
 * `{id}` may be written `_media-{id}` (Flotiq's keys).
 */
export function imagesRoutes(deps: AppDeps & { images: ImageService; keyAuth: ApiKeyAuth; throttle: AuthThrottle }) {
  const app = new Hono<AppEnv>();
  /** The key of the request (throttled like every other way in), recorded for `mayUse`. */
  const auth = async (c: Context<AppEnv>): Promise<Access> => {
    const access = await deps.throttle.guard(c, () => deps.keyAuth.verify(c.req.header('authorization')));
    c.set('access', access);
    return access;
  };
  const cacheSeconds = deps.config.images.cacheSeconds;

  app.on(['GET', 'HEAD'], '/image/:size/:file', async (c) => {
    const size = /^(\d{1,5})x(\d{1,5})$/.exec(c.req.param('size'));
    const file = /^(?:_media-)?(\d{1,15})\.([A-Za-z0-9]{1,10})$/.exec(c.req.param('file'));
    if (!size || !file) throw new NotFoundError('image', c.req.path.slice(0, 120));
    const [width, height, id, extension] = [Number(size[1]), Number(size[2]), Number(file[1]), file[2]!];
    const access = c.req.header('authorization') ? await auth(c) : undefined;
    const scoped = access?.kind === 'scoped' ? access.key : undefined;
    const exp = c.req.query('exp');
    const sig = c.req.query('sig');
    const obj = await deps.images
      .resolve({
        width,
        height,
        id,
        extension,
        path: `/image/${width}x${height}/${file[0]}`,
        exp,
        sig,
        apiKey: access !== undefined,
        // A scoped key opens private resources of its libraries, and only with "read".
        apiKeyLibraries: !scoped
          ? undefined
          : !scoped.permissions.includes('read')
            ? []
            : scoped.libraries === '*'
              ? undefined
              : scoped.libraries,
      })
      .catch(async (err: unknown) => {
        // A forged or expired signature is a failed authentication like a wrong key.
        if (err instanceof UnauthorizedError && (exp !== undefined || sig !== undefined)) await deps.throttle.failed(c);
        throw err;
      });
    return send(c, obj, deps, cacheSeconds);
  });

  /**
   * `GET /v1/image-url?path=/image/{w}x{h}/{id}.{ext}&ttl=3600`: a signed URL for pages
   * to embed (any size up to IMAGE_MAX_DIMENSION, private resources too), so the key
   * never reaches a browser. Mounted with the image routes, so it checks the key itself.
   */
  app.get('/v1/image-url', async (c) => {
    const access = await auth(c);
    if (access.kind === 'scoped' && !access.key.permissions.includes('read')) {
      throw new ForbiddenError(`The key "${access.key.name}" lacks the "read" permission (it has ${access.key.permissions.join(', ')}).`);
    }
    const secret = deps.config.images.urlSecret;
    if (!secret)
      throw new InvalidRequestError('Signed image URLs are not enabled on this server; set IMAGE_URL_SECRET (at least 32 characters).');
    const p = c.req.query('path') ?? '';
    const m = /^\/image\/(\d{1,5})x(\d{1,5})\/(?:_media-)?(\d{1,15})\.[A-Za-z0-9]{1,10}$/.exec(p);
    if (!m) throw new InvalidRequestError(`Expected path like /image/300x0/7.webp but received ${JSON.stringify(p.slice(0, 120))}.`);
    const ttlRaw = c.req.query('ttl') ?? '3600';
    const ttl = Number(ttlRaw);
    if (!/^\d{1,8}$/.test(ttlRaw) || ttl < 1 || ttl > MAX_TTL)
      throw new InvalidRequestError(`Expected ttl to be seconds from 1 to ${MAX_TTL} but received ${JSON.stringify(ttlRaw.slice(0, 20))}.`);
    if (Number(m[1]) > deps.config.images.maxDimension || Number(m[2]) > deps.config.images.maxDimension) {
      throw new InvalidRequestError(
        `Expected width and height of at most ${deps.config.images.maxDimension} (IMAGE_MAX_DIMENSION) but received ${m[1]}x${m[2]}.`,
      );
    }
    const rec = await deps.catalog.requireResource(Number(m[3]));
    if (!mayUse(c, rec.library)) throw new ForbiddenError(`This key does not open the library of resource ${rec.id}.`);
    const url = signedImageUrl(p, ttl, secret);
    return c.json({ url, expires: new Date((Math.floor(Date.now() / 1000) + ttl) * 1000).toISOString() });
  });

  return app;
}

async function send(c: Context<AppEnv>, obj: ImageObject, deps: AppDeps, cacheSeconds: number): Promise<Response> {
  // A plain object, not Headers: @hono/node-server hands it to writeHead as it is, and
  // this route is the hottest of the API.
  const headers: Record<string, string> = {
    'Content-Type': obj.contentType,
    ETag: obj.etag,
    'Cache-Control': `${obj.public ? 'public' : 'private'}, max-age=${cacheSeconds}`,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
    'X-Request-Id': c.get('requestId'),
  };
  if (obj.info.lastModified) headers['Last-Modified'] = obj.info.lastModified.toUTCString();
  if (obj.attachment !== undefined) headers['Content-Disposition'] = contentDisposition(obj.attachment);

  // S3: the body is already on its way (one GET gave the size too). Answers without it
  // drain a small one, so its connection goes back to the pool, and cut a large one.
  const opened = obj.body;
  const drop = () => {
    if (!opened) return;
    if (obj.info.size <= BUFFER_LIMIT) opened.on('error', () => undefined).resume();
    else opened.destroy();
  };
  if (etagMatches(c.req.header('if-none-match'), obj.etag)) {
    drop();
    return new Response(null, { status: 304, headers });
  }

  const total = obj.info.size;
  let range: ByteRange | undefined;
  const rangeHeader = c.req.header('range');
  // If-Range with another tag: the client's partial copy is stale, send it all.
  const ifRange = c.req.header('if-range');
  if (rangeHeader && (!ifRange || ifRange === obj.etag)) {
    const r = parseRange(rangeHeader, total);
    if (r === 'unsatisfiable') {
      drop();
      headers['Content-Range'] = `bytes */${total}`;
      return new Response(null, { status: 416, headers });
    }
    range = r;
  }
  const status = range ? 206 : 200;
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${total}`;
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : total);
  if (c.req.method === 'HEAD' || total === 0) {
    drop();
    return new Response(null, { status, headers });
  }
  const length = range ? range.end - range.start + 1 : total;
  const local = deps.store.localPath(obj.key);
  if (local && !range && length <= BUFFER_LIMIT) {
    // The fs store: one readFile, no stream machinery at all.
    const data = await readFileP(local).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ObjectNotFoundError(obj.key);
      throw err;
    });
    if (data.length !== total) throw new ObjectNotFoundError(obj.key); // rewritten since its size was read
    return new Response(data, { status, headers });
  }
  let stream: Readable;
  if (opened && range && total <= BUFFER_LIMIT) {
    // A range of a small object already coming whole: cut it here, no second request.
    const all = await readAll(opened, total);
    return new Response(all.subarray(range.start, range.end + 1), { status, headers });
  } else if (opened && !range) {
    stream = opened;
  } else {
    // A range of a large object: ask the store for just that (the whole one is cut off).
    drop();
    stream = await deps.store.get(obj.key, range);
  }
  // Renditions are small: sent as one buffer they cost a third of the CPU of a Node →
  // Web → Node stream conversion per request. Larger bodies (originals) stream, so
  // memory per request stays bounded by BUFFER_LIMIT.
  if (length <= BUFFER_LIMIT) return new Response(await readAll(stream, length), { status, headers });
  return new Response(Readable.toWeb(stream) as ReadableStream, { status, headers });
}

const BUFFER_LIMIT = 512 * 1024;

/** The callback readFile: one read of a known size, where fs/promises reads in chunks (and costs twice the CPU). */
const readFileP = promisify(readFile);

async function readAll(stream: Readable, length: number): Promise<Buffer<ArrayBuffer>> {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunk.copy(out, at);
    at += chunk.length;
  }
  return out.subarray(0, at) as Buffer<ArrayBuffer>;
}

/**
 * One `bytes=` range (RFC 9110 §14.1.2): `a-b`, `a-`, `-n`. Several ranges are answered
 * with the whole object (allowed; multipart/byteranges is not worth its cost here).
 */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^bytes=\s*(\d*)-(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** RFC 6266 with an ASCII fallback and the UTF-8 name (RFC 8187). */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
