import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, InvalidRequestError, NoFilePartError, NotFoundError, UnauthorizedError, type ErrorCode } from '../../shared/errors.js';
import type { Library, ResourceRecord } from '../../shared/model.js';
import { createMetadataOnlyResource } from '../../shared/services/metadata-only.js';
import { ReprocessService } from '../../shared/services/reprocess-service.js';
import type { StagedFile } from '../../shared/services/upload-service.js';
import { parseFlag, UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { STATUS_BY_CODE, toProblem } from '../error-handler.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { Confinement } from './confine.js';
import { readSmallText } from '../json-body.js';
import { receiveMultipart } from '../upload/intake.js';
import { secretOf, sameSecret } from './secrets.js';
import { settle } from './settle.js';

/** How resources created through this face name their source. */
const SOURCE = 'resourcespace';

/** The functions of ResourceSpace's API that this face answers. */
const FUNCTIONS = ['create_resource', 'upload_multipart', 'get_resource_data'] as const;
type RsFunction = (typeof FUNCTIONS)[number];

/**
 * What a client may send before its signature is checked: the url-encoded form, or the
 * multipart fields before the file. A signed `query` is a few hundred bytes.
 */
const PRE_AUTH_BYTES = 64 * 1024;
/** The fields that carry the signed call; others are ignored, as ResourceSpace does. */
const SIGNED_FIELDS = new Set(['query', 'sign', 'user']);

/** The seed's general error, word for word: ResourceSpace clients show it as is. */
const GENERAL_ERROR = 'An error occurred while uploading the file.';

/**
 * The one table from our error codes to ResourceSpace answers (JSend `fail` bodies).
 * Codes not listed keep the native status and message; server-side failures get the
 * seed's general error without internals.
 */
const ERRORS: Partial<Record<ErrorCode, { status: ContentfulStatusCode; message: (err: AppError, limit: number) => string }>> = {
  unauthorized: { status: 401, message: () => 'Invalid signature' },
  // "The maximum allowed upload file size is 5M." — PHP's ini notation of the limit in force.
  payload_too_large: { status: 413, message: (_e, limit) => `The maximum allowed upload file size is ${phpSize(limit)}.` },
  // The error already carries ResourceSpace's sentence: "Duplicate file upload, file matches resources: 8".
  duplicate: { status: 400, message: (e) => e.message },
  unreadable_file: { status: 500, message: () => GENERAL_ERROR },
  storage_unavailable: { status: 500, message: () => GENERAL_ERROR },
  catalog_unavailable: { status: 500, message: () => GENERAL_ERROR },
  metadata_timeout: { status: 500, message: () => GENERAL_ERROR },
  internal: { status: 500, message: () => GENERAL_ERROR },
};

interface Call {
  user: string;
  fn: RsFunction;
  params: URLSearchParams;
  /** The user's libraries (RESOURCESPACE_USERS `user:key@lib|lib…`). */
  scope: Confinement;
}

/**
 * ResourceSpace's API (`/api/`): a signed `query` — `sign = sha256(private_key + query)`,
 * the file never part of it — from users in RESOURCESPACE_USERS, as form fields of a
 * POST (multipart when a file comes along) or as a GET query string. A user reads and
 * writes its libraries only (`user:key@lib|lib…`; new resources go to the first,
 * `default` without); other resources answer as ones that do not exist. Uploads go
 * through the same UploadService, jobs and waiter as the native API.
 */
export function resourceSpaceRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();
  const revert = new ReprocessService({
    catalog: deps.catalog,
    ingestQueue: deps.ingestQueue,
    jobAttempts: deps.config.jobs.attempts,
    logger: deps.logger,
  });
  const verify = (c: Context, query: string, sign: string | undefined, user: string | undefined) =>
    throttle.guard(c, () => authenticate(deps, query, sign, user));

  const handle = async (c: Context) => {
    const limit = { bytes: deps.config.uploads.maxBytes };
    try {
      if (c.req.method === 'GET')
        return await dispatch(c, await verify(c, rawQuery(c.req.url), c.req.query('sign'), c.req.query('user')), [], limit);
      const type = c.req.header('content-type') ?? '';
      if (/^multipart\/form-data/i.test(type)) return await multipart(c, limit);
      // Read before the signature can be checked (it is in the form): small, and within REQUEST_TIMEOUT_MS.
      const form = new URLSearchParams(await readSmallText(c, PRE_AUTH_BYTES));
      return await dispatch(
        c,
        await verify(c, form.get('query') ?? '', form.get('sign') ?? undefined, form.get('user') ?? undefined),
        [],
        limit,
      );
    } catch (err) {
      return renderError(c, deps, err, limit.bytes);
    }
  };

  /**
   * Fields first (the clients send `query`, `sign`, `user` before `file`): the signature
   * is checked before any byte of the file is stored. Until then only those three fields
   * are kept, and all fields together may not pass PRE_AUTH_BYTES: an unauthenticated
   * client holds a few KiB at most, however many fields it sends.
   */
  async function multipart(c: Context, limit: { bytes: number }) {
    const fields = new Map<string, string>();
    let call: Call | undefined;
    let preAuthBytes = 0;
    const opts: Parameters<typeof receiveMultipart>[2] = {
      limit: limit.bytes,
      maxFiles: 1,
      maxFieldBytes: PRE_AUTH_BYTES,
      field: (name, value) => {
        if (call) return;
        preAuthBytes += Buffer.byteLength(name) + Buffer.byteLength(value);
        if (preAuthBytes > PRE_AUTH_BYTES) {
          throw new InvalidRequestError(
            `Expected the fields before the file (query, sign, user) to total at most ${PRE_AUTH_BYTES / 1024} KiB; send the signed query first and nothing else before the file.`,
          );
        }
        if (SIGNED_FIELDS.has(name)) fields.set(name, value);
      },
      beforeFile: async () => {
        call = await verify(c, fields.get('query') ?? '', fields.get('sign'), fields.get('user'));
        fields.clear();
        if (call.fn === 'upload_multipart') {
          if (parseFlag('revert', call.params.get('revert') ?? '0')) {
            throw new InvalidRequestError('revert=1 re-processes the stored file; send it without a file part.');
          }
          const current = await call.scope.resource(refOf(call.params, 'ref'));
          const lib = await deps.catalog.getLibrary(current.library);
          opts.limit = limit.bytes = deps.uploads.limitOf(lib);
          opts.replacing = current;
        } else if (call.fn === 'create_resource') {
          const lib = await call.scope.uploadLibrary();
          opts.limit = limit.bytes = deps.uploads.limitOf(lib);
        } else {
          throw new InvalidRequestError(`The function ${call.fn} takes no file; send it without a file part.`);
        }
      },
    };
    const staged = await receiveMultipart(c, deps.uploads, opts);
    call ??= await verify(c, fields.get('query') ?? '', fields.get('sign'), fields.get('user'));
    return dispatch(c, call, staged, limit, opts.replacing);
  }

  async function dispatch(
    c: Context,
    call: Call,
    staged: StagedFile[],
    limit: { bytes: number },
    replacing?: ResourceRecord,
  ): Promise<Response> {
    switch (call.fn) {
      case 'create_resource': {
        const library = await call.scope.uploadLibrary().catch(async (err: unknown) => {
          await deps.uploads.discard(staged);
          throw err;
        });
        limit.bytes = deps.uploads.limitOf(library);
        return createResource(c, call, library, staged);
      }
      case 'upload_multipart':
        return uploadMultipart(c, call, staged, replacing);
      case 'get_resource_data': {
        const rec = await call.scope.resource(refOf(call.params, 'resource'));
        return c.json(resourceData(rec));
      }
    }
  }

  /** `create_resource`: a new resource, with the file when one is sent along, else metadata only (its file follows with upload_multipart). Answers the new ref. */
  async function createResource(c: Context, call: Call, library: Library, staged: StagedFile[]) {
    const fields = new UploadFieldsBuilder();
    try {
      if (call.params.has('no_exif')) fields.add('no_exif', call.params.get('no_exif')!);
      const title = titleFromMetadata(call.params.get('metadata'));
      if (title !== undefined) fields.add('title', title);
      if (call.params.get('url')) {
        throw new InvalidRequestError(
          'create_resource with "url" would fetch the file from the internet, which this server does not do; upload it with upload_multipart.',
        );
      }
    } catch (err) {
      await deps.uploads.discard(staged);
      throw err;
    }
    if (staged.length === 0) {
      const rec = await createMetadataOnlyResource(deps, library, fields.build(), { fileName: 'untitled', source: SOURCE });
      c.header('X-Resource-Id', String(rec.id));
      return c.json(rec.id);
    }
    const [rec] = await deps.uploads.commit(staged, fields.build(), library, SOURCE);
    c.header('X-Resource-Id', String(rec!.id));
    const done = await settle(c, deps, [rec!], deps.config.uploads.waitMaxSeconds);
    c.header('X-Resource-Id', done.ids.join(','));
    return c.json(done.ids[0]);
  }

  /** `upload_multipart`: replace the file of `ref` (or, with `revert`, re-process the stored one) and answer 204 once processed. */
  async function uploadMultipart(c: Context, call: Call, staged: StagedFile[], replacing?: ResourceRecord) {
    const ref = refOf(call.params, 'ref');
    c.header('X-Resource-Id', String(ref));
    let next: ResourceRecord;
    if (parseFlag('revert', call.params.get('revert') ?? '0')) {
      // A resource made by create_resource has no file until its first upload_multipart.
      if ((await call.scope.resource(ref)).storageKey === '') {
        throw new InvalidRequestError(
          `Resource ${ref} has no file yet, so there is nothing to re-process; upload one with upload_multipart first.`,
        );
      }
      next = (await revert.revertOne(ref, { reread: true, renditions: false })).record;
    } else {
      const [s] = staged;
      if (!s || !replacing) throw new NoFilePartError();
      const noExif = parseFlag('no_exif', call.params.get('no_exif') ?? '0');
      next = await deps.uploads.replace(replacing, s, noExif).catch(async (err: unknown) => {
        await deps.uploads.discard([s]);
        throw err;
      });
    }
    const done = await settle(c, deps, [next], deps.config.uploads.waitMaxSeconds);
    if (!done.done) {
      return c.json(
        { status: 'success', data: { message: `Resource ${ref} is still being processed; poll /v1/jobs/${next.jobId}.` } },
        202,
      );
    }
    return c.body(null, 204);
  }

  app.on(['GET', 'POST'], '/api', handle);
  app.on(['GET', 'POST'], '/api/', handle);
  return app;
}

/**
 * Checks the signature as ResourceSpace does: the `sign` parameter, when the client
 * put it into the query too (its PHP example does), was not part of what it signed.
 */
function authenticate(deps: AppDeps, query: string, sign: string | undefined, formUser: string | undefined): Call {
  const signed = sign ? query.replace(`&sign=${sign}`, '') : query;
  const params = new URLSearchParams(signed);
  const user = formUser ?? params.get('user') ?? '';
  const { secret, known } = secretOf(deps.config.compat.resourceSpaceUsers, user);
  const expected = createHash('sha256')
    .update(secret + signed, 'utf8')
    .digest('hex');
  const valid = sameSecret(expected, (sign ?? '').toLowerCase());
  if (!known || !valid || !query || (params.has('user') && params.get('user') !== user)) {
    throw new UnauthorizedError('Invalid signature');
  }
  const fn = params.get('function') ?? '';
  if (!(FUNCTIONS as readonly string[]).includes(fn)) {
    throw new InvalidRequestError(
      `Expected function to be one of ${FUNCTIONS.join(', ')} but received ${JSON.stringify(fn.slice(0, 60))}.`,
    );
  }
  return {
    user,
    fn: fn as RsFunction,
    params,
    scope: new Confinement(deps.catalog, deps.config.compat.resourceSpaceUsers.get(user)!.libraries),
  };
}

function rawQuery(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? '' : url.slice(i + 1);
}

function refOf(params: URLSearchParams, name: string): number {
  const raw = params.get(name);
  if (raw === null || raw === '') throw new InvalidRequestError(`Expected the query to name the resource as "${name}" but it has none.`);
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new NotFoundError('resource', raw.slice(0, 40));
  return Number(raw);
}

/** `metadata` is a JSON object of field refs → values; field 8 is ResourceSpace's title. */
function titleFromMetadata(raw: string | null): string | undefined {
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidRequestError(
      `Expected metadata to be a JSON object of field ids and values but received ${JSON.stringify(raw.slice(0, 60))}.`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidRequestError('Expected metadata to be a JSON object of field ids and values.');
  }
  const title = (parsed as Record<string, unknown>)['8'] ?? (parsed as Record<string, unknown>).title;
  return title === undefined ? undefined : String(title);
}

/**
 * A row of ResourceSpace's `resource` table, as `get_resource_data` returns it: PHP
 * hands MySQL values over as strings, so clients expect strings here.
 */
function resourceData(r: ResourceRecord): Record<string, string | null> {
  return {
    ref: String(r.id),
    title: r.title ?? '',
    // ResourceSpace's stock types: 1 Photo, 2 Document, 3 Video, 4 Audio.
    resource_type: { image: '1', video: '3', audio: '4', document: '2', file: '2' }[r.type],
    has_image: r.renditions.length > 0 ? '1' : '0',
    creation_date: mysqlDate(r.created),
    modified: mysqlDate(r.modified),
    file_extension: r.extension,
    file_size: String(r.size),
    file_checksum: r.checksum,
    thumb_width: r.width === null ? null : String(r.width),
    thumb_height: r.height === null ? null : String(r.height),
    // 0 is "active" in ResourceSpace's workflow states; -1 "pending submission".
    archive: r.status === 'ready' ? '0' : '-1',
    // 0 open, 2 confidential.
    access: r.visibility === 'public' ? '0' : '2',
    file_path: null,
    status: r.status,
  };
}

function mysqlDate(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ');
}

/** Bytes as PHP's ini notation (`5M`, `1G`, `512K`), as ResourceSpace prints upload_max_filesize. */
export function phpSize(n: number): string {
  for (const [unit, size] of [
    ['G', 1024 ** 3],
    ['M', 1024 ** 2],
    ['K', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

function renderError(c: Context, deps: AppDeps, err: unknown, limit: number): Response {
  const problem = toProblem(err);
  const app = err instanceof AppError ? err : new AppError(problem.code, problem.detail, problem.extra);
  const row = ERRORS[problem.code];
  const status = row?.status ?? STATUS_BY_CODE[problem.code] ?? 500;
  if (status >= 500) deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'resourcespace request failed');
  const message = row ? row.message(app, limit) : problem.detail;
  return c.json({ status: 'fail', data: { message } }, status);
}
