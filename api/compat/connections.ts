import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { LabelIndex } from '../../shared/catalog/labels.js';
import { AppError, ConflictError, InvalidRequestError, NotFoundError, UnauthorizedError, type ErrorCode } from '../../shared/errors.js';
import type { Library, ResourceRecord } from '../../shared/model.js';
import { createMetadataOnlyResource } from '../../shared/services/metadata-only.js';
import { ResourceService } from '../../shared/services/resource-service.js';
import { sanitizeFileName } from '../../shared/upload/file-name.js';
import { UploadFieldsBuilder, type UploadFields } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { STATUS_BY_CODE, toProblem } from '../error-handler.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { readSmallText } from '../json-body.js';
import { receiveBody } from '../upload/intake.js';
import { sameSecret, secretOf } from './secrets.js';
import { settle } from './settle.js';
import { logFailure } from '../../shared/logger.js';

const SOURCE = 'connections';
const FEED = '/files/basic/api/myuserlibrary/feed';
const TD = 'urn:ibm.com/td';
const ATOM = 'http://www.w3.org/2005/Atom';
/** The category scheme Connections uses for the kind of entry (not a tag). */
const TYPE_SCHEME = 'tag:ibm.com,2006:td/type';
const MAX_ENTRY_BYTES = 256 * 1024;

/**
 * The one table from our error codes to Connections' answers: its status and the
 * `td:errorCode` of its XML error document. Codes not listed keep the native status.
 */
const ERRORS: Partial<Record<ErrorCode, { status: ContentfulStatusCode; errorCode: string }>> = {
  unauthorized: { status: 401, errorCode: 'Unauthorized' },
  not_found: { status: 404, errorCode: 'ItemNotFound' },
  conflict: { status: 409, errorCode: 'ItemExists' },
  // The same bytes already in the library under the `reject` policy: a conflict to Connections clients.
  duplicate: { status: 409, errorCode: 'ItemExists' },
  unsupported_media_type: { status: 415, errorCode: 'UnsupportedMediaType' },
  payload_too_large: { status: 413, errorCode: 'ContentMaxSizeExceeded' },
  invalid_request: { status: 400, errorCode: 'InvalidRequest' },
  malformed_multipart: { status: 400, errorCode: 'InvalidRequest' },
  no_file: { status: 400, errorCode: 'InvalidRequest' },
  client_aborted: { status: 400, errorCode: 'InvalidRequest' },
};

/** Documented enumerated parameters: accepted when valid, refused with a 400 otherwise. */
const ENUMS: Record<string, readonly string[]> = {
  commentNotification: ['on', 'off'],
  mediaNotification: ['on', 'off'],
  includePath: ['true', 'false'],
  propagate: ['true', 'false'],
  sharePermission: ['Edit', 'View'],
  visibility: ['private', 'public'],
};

const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  isArray: (name) => name === 'category',
  parseTagValue: false,
});
const builder = new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true });

/**
 * IBM Connections Files, "add a file to my library": `POST …/myuserlibrary/feed` with
 * the file as the body and its label in `Slug` (RFC 2047 encoded words decoded), or an
 * Atom entry alone (metadata, no file yet). HTTP Basic against CONNECTIONS_USERS. Each
 * user's library is the media-ingest library `connections-<user>` (made on first use);
 * labels are unique in it (409). Answers 201 with the Atom entry of the new file.
 */
export function connectionsRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();
  const labels = new LabelIndex(deps.redis, deps.config.redis.prefix);
  const resources = new ResourceService(deps);
  // Links are built from PUBLIC_URL, never from the request's Host header (which the client writes).
  const base = deps.publicUrl ?? deps.config.http.publicUrl;

  const guarded = (fn: (c: Context, user: string) => Promise<Response>) => async (c: Context) => {
    try {
      return await fn(c, await throttle.guard(c, () => authenticate(deps, c.req.header('authorization'))));
    } catch (err) {
      return renderError(c, deps, err);
    }
  };

  app.post(
    FEED,
    guarded(async (c, user) => {
      const library = await userLibrary(deps, user);
      const isLive = async (id: number) => (await deps.catalog.getResource(id))?.library === library.id;
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type.startsWith('multipart/')) {
        throw new AppError(
          'unsupported_media_type',
          `Expected the file's bytes as the body (with a Slug header), or an Atom entry (application/atom+xml) alone, but received ${type}.`,
        );
      }

      let record: ResourceRecord;
      let label: string;
      if (type === 'application/atom+xml') {
        const entry = parseEntry(await readSmallText(c, MAX_ENTRY_BYTES));
        label = entry.label ?? (await slugOf(c)) ?? '';
        if (!label) throw new InvalidRequestError('The Atom entry names no file: send <td:label> or <title>, or a Slug header.');
        // The entry's categories are tags like the query's, under the same limits.
        const fields = queryFields(c, entry.tags);
        const merged = { ...fields, title: label, visibility: entry.visibility ?? fields.visibility };
        await refuseTaken(library, label, isLive);
        record = await createMetadataOnlyResource(deps, library, merged, { fileName: sanitizeFileName(label), source: SOURCE });
      } else {
        const fields = queryFields(c);
        const slug = await slugOf(c);
        if (!slug)
          throw new InvalidRequestError(
            'Expected a Slug header with the file\'s label (RFC 2047 encoded words for non-ASCII), e.g. "Slug: photo.jpg".',
          );
        label = sanitizeFileName(slug);
        // Decided on the headers: a taken label costs the client no upload (and the
        // unread body is not drained: the connection closes after the answer).
        await refuseTaken(library, label, isLive).catch((err: unknown) => {
          c.header('Connection', 'close');
          throw err;
        });
        const staged = await receiveBody(
          c,
          deps.uploads,
          { fileName: label, declaredType: type && type !== 'application/octet-stream' ? type : null },
          deps.uploads.limitOf(library),
        );
        [record] = (await deps.uploads.commit([staged], { ...fields, title: label }, library, SOURCE)) as [ResourceRecord];
      }
      c.header('X-Resource-Id', String(record.id));
      const holder = await labels.claim(library.id, label, record.id, isLive);
      if (holder !== undefined) {
        // Another request took the label between the check and now: this one loses.
        await resources
          .delete(record.id)
          .catch(logFailure(deps.logger, 'losing upload of a taken label could not be removed', { resourceId: record.id }));
        throw taken(label, holder);
      }
      let current = record;
      if (record.status === 'processing') {
        const done = await settle(c, deps, [record], deps.config.uploads.waitMaxSeconds).catch(async (err: unknown) => {
          await labels.release(library.id, label, record.id);
          throw err;
        });
        current = done.records[0] ?? record;
      }
      c.header('Location', entryUrl(base, current.id));
      return xml(c, entryXml(base, current, label, user), 201, 'application/atom+xml');
    }),
  );

  app.get(
    '/files/basic/api/myuserlibrary/document/:id/entry',
    guarded(async (c, user) => {
      const library = await userLibrary(deps, user);
      const raw = c.req.param('id') ?? '';
      const rec = /^\d{1,15}$/.test(raw) ? await deps.catalog.getResource(Number(raw)) : undefined;
      if (!rec || rec.library !== library.id) throw new NotFoundError('file', raw.slice(0, 60));
      return xml(c, entryXml(base, rec, rec.title ?? rec.fileName, user), 200, 'application/atom+xml');
    }),
  );

  async function refuseTaken(library: Library, label: string, isLive: (id: number) => Promise<boolean>) {
    const holder = await labels.holder(library.id, label, isLive);
    if (holder !== undefined) throw taken(label, holder);
  }

  return app;
}

function taken(label: string, holder: number): ConflictError {
  return new ConflictError(`A file labelled "${label}" already exists in this library (resource ${holder}); choose another label.`, {
    resource: holder,
  });
}

function authenticate(deps: AppDeps, header: string | undefined): string {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) throw new UnauthorizedError('Send the user name and password with HTTP Basic authentication.');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const { secret, known } = secretOf(deps.config.compat.connectionsUsers, user);
  const ok = sameSecret(secret, colon < 0 ? '' : decoded.slice(colon + 1));
  if (!known || !ok) throw new UnauthorizedError('The user name or password is not valid.');
  return user;
}

/** `connections-<user>`: a library per Connections user, made on first use (race-free: a lost create reads the winner's). */
async function userLibrary(deps: AppDeps, user: string): Promise<Library> {
  const name = `connections-${user.replace(/[^A-Za-z0-9._-]/g, '-')}`.slice(0, 64);
  const found = await deps.catalog.findLibrary(name);
  if (found) return found;
  try {
    return await deps.catalog.createLibrary({ name });
  } catch (err) {
    if (err instanceof ConflictError) return deps.catalog.getLibrary(name);
    throw err;
  }
}

/**
 * The Slug header, RFC 2047 encoded words decoded (libmime), or undefined when absent.
 * libmime (~7 MiB of RSS with its charset tables) loads on the first Slug, not with every API process.
 */
async function slugOf(c: Context): Promise<string | undefined> {
  const raw = c.req.header('slug');
  if (raw === undefined || raw.trim() === '') return undefined;
  const { default: libmime } = await import('libmime');
  return libmime.decodeWords(raw.trim()).trim();
}

/**
 * The documented query parameters: tag (repeatable), visibility, created/modified (ms
 * since 1970), the rest checked and accepted; `moreTags` (an Atom entry's categories)
 * join the tags.
 */
function queryFields(c: Context, moreTags: readonly string[] = []): UploadFields {
  const b = new UploadFieldsBuilder();
  for (const [name, allowed] of Object.entries(ENUMS)) {
    const v = c.req.query(name);
    if (v !== undefined && !allowed.includes(v)) {
      throw new InvalidRequestError(`Expected ${name} to be one of ${allowed.join(', ')} but received ${JSON.stringify(v.slice(0, 40))}.`);
    }
  }
  for (const t of [...(c.req.queries('tag') ?? []), ...moreTags]) b.add('tag', t);
  const visibility = c.req.query('visibility');
  if (visibility) b.add('visibility', visibility);
  for (const name of ['created', 'modified'] as const) {
    const v = c.req.query(name);
    if (v === undefined) continue;
    if (!/^\d{1,15}$/.test(v))
      throw new InvalidRequestError(`Expected ${name} to be milliseconds since 1970-01-01 but received ${JSON.stringify(v.slice(0, 40))}.`);
    b.add(name, v.padStart(13, '0'));
  }
  return b.build();
}

/** An Atom entry document's label, tags (categories without the type scheme) and visibility. */
function parseEntry(text: string): { label: string | undefined; tags: string[]; visibility: 'private' | 'public' | undefined } {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(text, true) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidRequestError(`The body is not a well-formed Atom entry: ${(err as Error).message}`);
  }
  const entry = doc.entry as Record<string, unknown> | undefined;
  if (!entry || typeof entry !== 'object') throw new InvalidRequestError('Expected an Atom <entry> document as the body.');
  const label = textOf(entry.label) ?? textOf(entry.title);
  const tags = ((entry.category as Record<string, string>[] | undefined) ?? [])
    .filter((cat) => cat['@_scheme'] !== TYPE_SCHEME && typeof cat['@_term'] === 'string' && cat['@_term'].trim() !== '')
    .map((cat) => cat['@_term']!.trim());
  const vis = textOf(entry.visibility);
  if (vis !== undefined && vis !== 'private' && vis !== 'public') {
    throw new InvalidRequestError(`Expected <td:visibility> to be private or public but received ${JSON.stringify(vis.slice(0, 40))}.`);
  }
  return { label: label ? sanitizeFileName(label) : undefined, tags, visibility: vis };
}

function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined;
  if (v && typeof v === 'object' && '#text' in v) return String((v as Record<string, unknown>)['#text']).trim() || undefined;
  return undefined;
}

function entryUrl(base: string, id: number): string {
  return `${base}/files/basic/api/myuserlibrary/document/${id}/entry`;
}

/** The Atom entry of a file, as Connections answers it: id, label and title, tags as categories, links to the entry and the media. */
function entryXml(base: string, r: ResourceRecord, label: string, user: string): string {
  const hasFile = r.storageKey !== '';
  const media = `${base}/image/0x0/${r.id}.${r.extension}`;
  const links: Record<string, string>[] = [
    { '@_rel': 'self', '@_href': entryUrl(base, r.id) },
    { '@_rel': 'edit', '@_href': entryUrl(base, r.id) },
    { '@_rel': 'alternate', '@_type': 'application/json', '@_href': `${base}/v1/resources/${r.id}` },
  ];
  if (hasFile) {
    links.push({ '@_rel': 'edit-media', '@_href': media });
    links.push({ '@_rel': 'enclosure', '@_href': media, '@_type': r.mimeType, '@_title': label, '@_length': String(r.size) });
  }
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    entry: {
      '@_xmlns': ATOM,
      '@_xmlns:td': TD,
      id: `urn:lsid:ibm.com:td:${r.id}`,
      'td:uuid': String(r.id),
      'td:label': label,
      title: { '@_type': 'text', '#text': label },
      published: r.created,
      updated: r.modified,
      'td:created': r.created,
      'td:modified': r.modified,
      author: { name: user },
      category: [{ '@_scheme': TYPE_SCHEME, '@_term': 'document', '@_label': 'document' }, ...r.tags.map((t) => ({ '@_term': t }))],
      link: links,
      ...(hasFile ? { content: { '@_type': r.mimeType, '@_src': media } } : {}),
      'td:visibility': r.visibility,
      'td:totalMediaSize': String(r.size),
      'td:status': r.status,
    },
  };
  return builder.build(doc) as string;
}

function xml(c: Context, body: string, status: ContentfulStatusCode, type: string): Response {
  c.header('Content-Type', `${type}; charset=UTF-8`);
  return c.body(body, status);
}

function renderError(c: Context, deps: AppDeps, err: unknown): Response {
  const p = toProblem(err);
  const row = ERRORS[p.code];
  const status = row?.status ?? STATUS_BY_CODE[p.code] ?? 500;
  if (status >= 500) deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'connections request failed');
  if (status === 401) c.header('WWW-Authenticate', 'Basic realm="IBM Connections"');
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    'td:error': {
      '@_xmlns:td': TD,
      'td:errorCode': row?.errorCode ?? (status >= 500 ? 'ServerError' : 'InvalidRequest'),
      'td:errorMessage': p.detail,
    },
  };
  return xml(c, builder.build(doc) as string, status, 'application/xml');
}
