import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { MediaObjectStore } from '../../shared/catalog/media-objects.js';
import {
  InvalidRequestError,
  NoFilePartError,
  NotFoundError,
  UnauthorizedError,
  UpstreamError,
  type ErrorCode,
} from '../../shared/errors.js';
import type { Library, ResourceRecord } from '../../shared/model.js';
import type { StagedFile } from '../../shared/services/upload-service.js';
import { parseFlag } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { STATUS_BY_CODE, toProblem } from '../error-handler.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { Confinement } from './confine.js';
import { readSmallText } from '../json-body.js';
import { receiveMultipart } from '../upload/intake.js';
import { findCredential } from './secrets.js';
import { settle } from './settle.js';

const SOURCE = 'flotiq';
const KEY = /^_media-(\d{1,15})$/;
const MAX_JSON_BYTES = 64 * 1024;
const MAX_LIMIT = 1000;
/** How long the Unsplash source may take to send a photo (a hung source must not hold the request for ever). */
const UNSPLASH_TIMEOUT_MS = 30_000;

/**
 * The one table from our error codes to Flotiq's statuses; codes not listed keep the
 * native status. Flotiq (Symfony) answers errors as `{"code": status, "message": …}`.
 */
const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  unauthorized: 401,
  duplicate: 409,
};

/** The `_media` content type's fields, in its metaDefinition order, plus `id`. */
export interface FlotiqMedia {
  id: string;
  fileName: string;
  mimeType: string;
  size: number;
  width: number;
  height: number;
  url: string;
  externalId: string;
  source: 'disk' | 'unsplash';
  extension: string;
  type: 'image' | 'file';
}

/**
 * Flotiq's media library: `POST /api/media` (multipart `file`, `type`, `save`),
 * `_media` content objects (`GET /api/v1/content/_media`, `/{id}`, the old two-step
 * `POST`). The `url` it answers, `/image/{w}x{h}/_media-{id}.{ext}`, is served by the
 * native images route, which reads Flotiq's keys. Flotiq's media URLs need no token,
 * so its uploads are `public`. Auth: `X-AUTH-TOKEN` (or Flotiq's `auth_token` query
 * parameter) against FLOTIQ_API_KEYS. A key sees and writes its libraries only
 * (`key@lib|lib…`; uploads go to the first, `default` without): a `_media` object of
 * another library is one that does not exist.
 */
export function flotiqRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();
  const objects = new MediaObjectStore(deps.redis, deps.config.redis.prefix);

  const guarded = (fn: (c: Context, scope: Confinement) => Promise<Response>) => async (c: Context) => {
    try {
      const key = await throttle.guard(c, () => {
        const found = findCredential(deps.config.compat.flotiqApiKeys, c.req.header('x-auth-token') ?? c.req.query('auth_token') ?? '');
        if (!found) throw new UnauthorizedError('Invalid or missing X-AUTH-TOKEN.');
        return found;
      });
      return await fn(c, new Confinement(deps.catalog, key.libraries));
    } catch (err) {
      return renderError(c, deps, err);
    }
  };

  app.post(
    '/api/media',
    guarded(async (c, scope) => {
      const library = await scope.uploadLibrary();
      const form = new Map<string, string>();
      // The documented client appends `type` and `save` after the file: both are read once the body is in.
      const staged = await receiveMultipart(c, deps.uploads, {
        limit: deps.uploads.limitOf(library),
        maxFiles: 1,
        field: (name, value) => void form.set(name, value),
      });
      const [s] = staged;
      if (!s) throw new NoFilePartError();
      let save: boolean;
      let asFile: boolean;
      try {
        save = parseFlag('save', form.get('save') ?? '0');
        const type = form.get('type') ?? (s.sniffed.type === 'image' ? 'image' : 'file');
        if (type !== 'image' && type !== 'file')
          throw new InvalidRequestError(`Expected type to be "image" or "file" but received ${JSON.stringify(type.slice(0, 40))}.`);
        if (type === 'image' && s.sniffed.type !== 'image') {
          throw new InvalidRequestError(
            `Expected an image for type=image but "${s.fileName}" is ${s.sniffed.mimeType}; send it with type=file.`,
          );
        }
        asFile = type === 'file';
      } catch (err) {
        await deps.uploads.discard(staged);
        throw err;
      }
      return ingest(c, library, asFile ? { ...s, sniffed: { ...s.sniffed, type: 'file' } } : s, { save, source: SOURCE });
    }),
  );

  app.get(
    '/api/v1/content/_media',
    guarded(async (c, scope) => {
      const page = positive(c.req.query('page') ?? '1', 'page', Number.MAX_SAFE_INTEGER);
      const limit = positive(c.req.query('limit') ?? '20', 'limit', MAX_LIMIT);
      let total = await objects.count();
      let ids: number[];
      let recs: (ResourceRecord | undefined)[];
      if (scope.everyLibrary) {
        ids = await objects.page((page - 1) * limit, limit);
        recs = await deps.catalog.getResources(ids);
      } else {
        // A key of some libraries: its objects among all, counted and paged here.
        const all = await objects.page(0, total);
        const every = await deps.catalog.getResources(all);
        const mine: [number, ResourceRecord | undefined][] = [];
        for (const [i, r] of every.entries()) if (r === undefined || (await scope.allows(r.library))) mine.push([all[i]!, r]);
        total = mine.length;
        const slice = mine.slice((page - 1) * limit, page * limit);
        ids = slice.map(([id]) => id);
        recs = slice.map(([, r]) => r);
      }
      const gone = ids.filter((_, i) => recs[i] === undefined);
      await objects.remove(gone);
      const live = recs.filter((r): r is ResourceRecord => r !== undefined);
      const details = await objects.details(live.map((r) => r.id));
      const data = live.map((r, i) => withInternal(r, details[i]!));
      return c.json({
        total_count: total - gone.length,
        total_pages: Math.ceil((total - gone.length) / limit),
        current_page: page,
        count: data.length,
        data,
      });
    }),
  );

  app.get(
    '/api/v1/content/_media/:id',
    guarded(async (c, scope) => {
      const key = c.req.param('id') ?? '';
      const id = parseKey(key);
      if (!(await objects.has(id))) throw new NotFoundError('_media object', key);
      const rec = await deps.catalog.getResource(id);
      if (!rec) {
        await objects.remove([id]);
        throw new NotFoundError('_media object', key);
      }
      if (!(await scope.allows(rec.library))) throw new NotFoundError('_media object', key);
      return c.json(await contentObject(rec));
    }),
  );

  /** The old second step: the upload's answer sent back as a `_media` content object. */
  app.post(
    '/api/v1/content/_media',
    guarded(async (c, scope) => {
      let body: unknown;
      try {
        body = JSON.parse(await readSmallText(c, MAX_JSON_BYTES));
      } catch (err) {
        if (err instanceof SyntaxError) throw new InvalidRequestError(`The body is not valid JSON: ${err.message}`);
        throw err;
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new InvalidRequestError('Expected a JSON object: the _media object the upload answered.');
      const b = body as Record<string, unknown>;
      const key = typeof b.id === 'string' ? b.id : typeof b.url === 'string' ? /\/(_media-\d+)\.[^/]*$/.exec(b.url)?.[1] : undefined;
      if (!key) throw new InvalidRequestError('Expected "id" (like "_media-123") or the "url" the upload answered.');
      const rec = await scope.resource(parseKey(key));
      await objects.add(rec.id);
      return c.json(await contentObject(rec));
    }),
  );

  /**
   * Flotiq's Unsplash import: the photo is fetched from UNSPLASH_SOURCE_URL (`{id}`
   * replaced) and ingested like an upload, `source: "unsplash"` and `externalId` set.
   * Without a configured source it answers a clear error: no internet access is assumed.
   */
  app.get(
    '/api/unsplash/:id',
    guarded(async (c, scope) => {
      const externalId = c.req.param('id') ?? '';
      const template = deps.config.compat.unsplashSourceUrl;
      if (!template) {
        throw new InvalidRequestError(
          `Importing Unsplash photo "${externalId.slice(0, 60)}" needs an Unsplash source, and none is configured on this server (UNSPLASH_SOURCE_URL; no internet access is assumed); download the photo and upload it with POST /api/media.`,
        );
      }
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(externalId)) {
        throw new InvalidRequestError(
          `Expected an Unsplash photo id (1-64 letters, digits, "_" or "-") but received ${JSON.stringify(externalId.slice(0, 60))}.`,
        );
      }
      const save = parseFlag('save', c.req.query('save') ?? '0');
      const library = await scope.uploadLibrary();
      const url = template.replaceAll('{id}', externalId);
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(UNSPLASH_TIMEOUT_MS) });
      } catch (err) {
        throw new UpstreamError(`The Unsplash source did not answer for photo "${externalId}": ${(err as Error).message}`, { cause: err });
      }
      if (res.status === 404) {
        await res.body?.cancel();
        throw new NotFoundError('Unsplash photo', externalId);
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new UpstreamError(`The Unsplash source answered ${res.status} for photo "${externalId}".`);
      }
      const type = res.headers.get('content-type')?.split(';')[0]?.trim() || null;
      const body = Readable.fromWeb(res.body as WebReadableStream);
      const ac = new AbortController();
      let staged: StagedFile;
      try {
        staged = await deps.uploads.stage(
          { fileName: `${externalId}.jpg`, declaredType: type, stream: body },
          deps.uploads.limitOf(library),
          ac.signal,
        );
      } catch (err) {
        ac.abort();
        body.destroy();
        throw err;
      }
      if (staged.sniffed.type !== 'image') {
        await deps.uploads.discard([staged]);
        throw new UpstreamError(`The Unsplash source sent ${staged.sniffed.mimeType} for photo "${externalId}", not an image.`);
      }
      return ingest(c, library, staged, { save, source: 'unsplash', externalId });
    }),
  );

  /** Commit one staged file, wait for it to be processed, answer its `_media` object (a content object with `save`). */
  async function ingest(c: Context, library: Library, staged: StagedFile, opts: { save: boolean; source: string; externalId?: string }) {
    const [rec] = await deps.uploads.commit([staged], noFields(), library, opts.source);
    c.header('X-Resource-Id', String(rec!.id));
    if (opts.externalId) await objects.setExternalId(rec!.id, opts.externalId);
    const done = await settle(c, deps, [rec!], deps.config.uploads.waitMaxSeconds);
    const current = done.records[0] ?? rec!;
    c.header('X-Resource-Id', String(current.id));
    if (opts.save) await objects.add(current.id);
    const [detail] = await objects.details([current.id]);
    return c.json(opts.save ? withInternal(current, detail!) : mediaOf(current, detail!.externalId));
  }

  async function contentObject(rec: ResourceRecord) {
    const [detail] = await objects.details([rec.id]);
    return withInternal(rec, detail!);
  }

  return app;
}

/** The `_media` object: every field of the content type definition; 0 × 0 for files. */
export function mediaOf(r: ResourceRecord, externalId = ''): FlotiqMedia {
  const image = r.type === 'image';
  return {
    id: `_media-${r.id}`,
    extension: r.extension,
    fileName: r.fileName,
    mimeType: r.mimeType,
    size: r.size,
    type: image ? 'image' : 'file',
    source: r.source === 'unsplash' ? 'unsplash' : 'disk',
    externalId,
    url: `/image/0x0/_media-${r.id}.${r.extension}`,
    height: image ? (r.height ?? 0) : 0,
    width: image ? (r.width ?? 0) : 0,
  };
}

/** A content object carries Flotiq's `internal` block besides the fields. */
function withInternal(r: ResourceRecord, detail: { savedAt: number | undefined; externalId: string }) {
  const created = detail.savedAt === undefined ? r.created : new Date(detail.savedAt).toISOString();
  return {
    ...mediaOf(r, detail.externalId),
    internal: {
      contentType: '_media',
      createdAt: created,
      updatedAt: r.modified > created ? r.modified : created,
      deletedAt: '',
      latestVersion: r.fileVersion,
    },
  };
}

function parseKey(key: string): number {
  const m = KEY.exec(key);
  if (!m) throw new NotFoundError('_media object', key.slice(0, 60));
  return Number(m[1]);
}

function positive(raw: string, name: string, max: number): number {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new InvalidRequestError(`Expected ${name} to be an integer from 1 to ${max} but received ${JSON.stringify(raw.slice(0, 20))}.`);
  }
  return Number(raw);
}

/** Public: Flotiq serves `/image/…` URLs without a token, and its clients embed them in pages. */
function noFields() {
  return { title: null, tags: [], visibility: 'public' as const, noExif: false, created: null, modified: null };
}

function renderError(c: Context, deps: AppDeps, err: unknown): Response {
  const p = toProblem(err);
  const status = STATUS[p.code] ?? STATUS_BY_CODE[p.code] ?? 500;
  if (status >= 500) deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'flotiq request failed');
  const message = p.code === 'internal' ? 'Internal Server Error' : p.detail;
  return c.json({ code: status, message }, status);
}
