import type { Context, MiddlewareHandler } from 'hono';
import type { Permission } from '../../shared/catalog/api-keys.js';
import { ForbiddenError } from '../../shared/errors.js';
import { parseIngestJobId } from '../../shared/jobs/ingest.js';
import { parseReprocessJobId } from '../../shared/jobs/reprocess.js';
import { directUploadLibrary } from '../../shared/services/direct-upload-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { accessOf } from './auth.js';

/**
 * What a route's target library is, for a scoped key:
 * - `library`: the `{library}` of the path (id or name)
 * - `resource`, `batch`, `job`, `direct-upload`: the library of that thing
 * - `query-library`: `?library=` when given, else the route lists only the key's libraries
 * - `body-library`: the JSON body's `library` when given (`all` / `"all": true`: every
 *   library), else the route lists only the key's libraries
 * - `image-path`: the resource of `?path=/image/…`
 * - `listing`: the route lists only the key's libraries
 * - `every`: the whole service (mappings, new libraries): only keys with `["*"]`
 * - `none`: no library involved
 */
type Target =
  | 'library'
  | 'resource'
  | 'batch'
  | 'job'
  | 'direct-upload'
  | 'query-library'
  | 'body-library'
  | 'image-path'
  | 'listing'
  | 'every'
  | 'none';

/**
 * The one table of what a scoped key needs on each /v1 route. A route not listed here
 * is refused to scoped keys (403) until someone decides what it needs: a new route never
 * opens by accident. Full-access keys (API_KEYS) skip all of it.
 */
const RULES: { method: string; path: RegExp; permission: Permission; target: Target }[] = [
  { method: 'GET', path: /^\/v1\/libraries$/, permission: 'read', target: 'listing' },
  { method: 'POST', path: /^\/v1\/libraries$/, permission: 'upload', target: 'every' },
  { method: 'GET', path: /^\/v1\/libraries\/[^/]+$/, permission: 'read', target: 'library' },
  { method: 'POST', path: /^\/v1\/libraries\/[^/]+\/files$/, permission: 'upload', target: 'library' },
  { method: 'POST', path: /^\/v1\/libraries\/[^/]+\/direct-uploads$/, permission: 'upload', target: 'library' },
  // Resumable (tus) uploads: every request names the library in its path.
  { method: 'OPTIONS', path: /^\/v1\/libraries\/[^/]+\/tus$/, permission: 'upload', target: 'library' },
  { method: 'POST', path: /^\/v1\/libraries\/[^/]+\/tus$/, permission: 'upload', target: 'library' },
  { method: 'GET', path: /^\/v1\/libraries\/[^/]+\/tus\/[^/]+$/, permission: 'upload', target: 'library' },
  { method: 'PATCH', path: /^\/v1\/libraries\/[^/]+\/tus\/[^/]+$/, permission: 'upload', target: 'library' },
  { method: 'DELETE', path: /^\/v1\/libraries\/[^/]+\/tus\/[^/]+$/, permission: 'upload', target: 'library' },
  // External libraries: a scan makes resources of the library's files. The events route
  // takes EXTERNAL_EVENTS_TOKEN, not keys; its rule keeps a scoped key to its libraries anyway.
  { method: 'POST', path: /^\/v1\/libraries\/[^/]+\/scan$/, permission: 'upload', target: 'library' },
  { method: 'POST', path: /^\/v1\/libraries\/[^/]+\/events$/, permission: 'upload', target: 'library' },
  { method: 'GET', path: /^\/v1\/libraries\/[^/]+\/webhook$/, permission: 'read', target: 'library' },
  { method: 'PUT', path: /^\/v1\/libraries\/[^/]+\/webhook$/, permission: 'upload', target: 'library' },
  { method: 'DELETE', path: /^\/v1\/libraries\/[^/]+\/webhook$/, permission: 'upload', target: 'library' },
  { method: 'GET', path: /^\/v1\/resources$/, permission: 'read', target: 'query-library' },
  { method: 'GET', path: /^\/v1\/resources\/[^/]+$/, permission: 'read', target: 'resource' },
  { method: 'DELETE', path: /^\/v1\/resources\/[^/]+$/, permission: 'delete', target: 'resource' },
  { method: 'PUT', path: /^\/v1\/resources\/[^/]+\/file$/, permission: 'upload', target: 'resource' },
  { method: 'POST', path: /^\/v1\/resources\/[^/]+\/reprocess$/, permission: 'reprocess', target: 'resource' },
  { method: 'POST', path: /^\/v1\/reprocess$/, permission: 'reprocess', target: 'body-library' },
  { method: 'GET', path: /^\/v1\/batches\/[^/]+$/, permission: 'read', target: 'batch' },
  { method: 'DELETE', path: /^\/v1\/batches\/[^/]+$/, permission: 'reprocess', target: 'batch' },
  { method: 'POST', path: /^\/v1\/batches\/[^/]+\/(pause|resume)$/, permission: 'reprocess', target: 'batch' },
  { method: 'GET', path: /^\/v1\/jobs\/[^/]+(\/wait)?$/, permission: 'read', target: 'job' },
  { method: 'POST', path: /^\/v1\/checksums$/, permission: 'read', target: 'body-library' },
  { method: 'GET', path: /^\/v1\/checksums\/[^/]+$/, permission: 'read', target: 'query-library' },
  { method: 'GET', path: /^\/v1\/mappings$/, permission: 'read', target: 'none' },
  { method: 'PUT', path: /^\/v1\/mappings$/, permission: 'reprocess', target: 'every' },
  { method: 'POST', path: /^\/v1\/direct-uploads\/[^/]+\/complete$/, permission: 'upload', target: 'direct-upload' },
  { method: 'DELETE', path: /^\/v1\/direct-uploads\/[^/]+$/, permission: 'upload', target: 'direct-upload' },
  { method: 'GET', path: /^\/v1\/image-url$/, permission: 'read', target: 'image-path' },
  // The console's reads: what the key may do, and the queues (every library's failures).
  { method: 'GET', path: /^\/v1\/whoami$/, permission: 'read', target: 'none' },
  { method: 'GET', path: /^\/v1\/queues$/, permission: 'read', target: 'every' },
];

/** The rule of a request, if any (a route without one is closed to scoped keys). */
export function scopeRuleFor(method: string, path: string): { permission: Permission; target: Target } | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  return RULES.find((r) => r.method === m && r.path.test(path));
}

/** The libraries a request may see: every one, or these ids. */
export function allowedLibraries(c: Context): '*' | readonly number[] {
  const access = accessOf(c);
  return access.kind === 'full' ? '*' : access.key.libraries;
}

/** Whether the request may see library `id`. */
export function mayUse(c: Context, id: number): boolean {
  const allowed = allowedLibraries(c);
  return allowed === '*' || allowed.includes(id);
}

/**
 * Scoped keys (issue 21): the route's permission, and its target library among the
 * key's, else 403 problem+json. Runs after the key check and after the body is buffered
 * (`body-limit.ts`), so it may read a JSON body's `library`.
 */
export function scope(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const access = accessOf(c);
    if (access.kind === 'full') return next();
    const key = access.key;
    const method = c.req.method;
    const rule = scopeRuleFor(method, c.req.path);
    if (!rule)
      throw new ForbiddenError(`The key "${key.name}" is scoped, and ${method} ${c.req.path} is open to full-access keys only.`, {
        key: key.id,
      });
    if (!key.permissions.includes(rule.permission)) {
      throw new ForbiddenError(`The key "${key.name}" lacks the "${rule.permission}" permission (it has ${key.permissions.join(', ')}).`, {
        key: key.id,
        permission: rule.permission,
      });
    }
    if (key.libraries === '*') return next();
    const outside = (what: string) =>
      new ForbiddenError(`The key "${key.name}" opens the libraries ${key.libraryNames.join(', ')} only, and ${what} is not among them.`, {
        key: key.id,
      });
    const check = (id: number | undefined, what: string) => {
      if (id === undefined || !(key.libraries as number[]).includes(id)) throw outside(what);
    };
    const segment = (i: number) => decodeURIComponent(c.req.path.split('/')[i] ?? '');
    const library = async (idOrName: string) => check((await deps.catalog.findLibrary(idOrName))?.id, `library "${idOrName.slice(0, 64)}"`);
    const resource = async (raw: string) => {
      // Not a resource id at all: the route answers its own 404.
      if (!/^\d{1,15}$/.test(raw)) return;
      const rec = await deps.catalog.getResource(Number(raw));
      if (rec) check(rec.library, `the library of resource ${raw}`);
    };

    switch (rule.target) {
      case 'none':
        break;
      case 'every':
      case 'listing':
        if (rule.target === 'every') throw outside('every library');
        break;
      case 'library':
        await library(segment(3));
        break;
      case 'query-library': {
        const q = c.req.query('library');
        if (q) await library(q);
        break;
      }
      case 'body-library': {
        const body = await jsonBody(c);
        const lib = body?.library;
        if (body?.all === true || lib === 'all') throw outside('every library');
        if (typeof lib === 'string' || typeof lib === 'number') await library(String(lib));
        break;
      }
      case 'resource':
        await resource(segment(3));
        break;
      case 'image-path': {
        const m = /^\/image\/\d{1,5}x\d{1,5}\/(?:_media-)?(\d{1,15})\./.exec(c.req.query('path') ?? '');
        if (m) await resource(m[1]!);
        break;
      }
      case 'batch': {
        const raw = segment(3);
        const batch = /^\d{1,15}$/.test(raw) ? await deps.catalog.batches.get(Number(raw)) : undefined;
        if (batch) {
          if (batch.library === null) throw outside('every library');
          check(batch.library, `the library of batch ${raw}`);
        }
        break;
      }
      case 'job': {
        const jobId = segment(3);
        const ref = parseIngestJobId(jobId) ?? parseReprocessJobId(jobId);
        if (!ref) break;
        const rec = await deps.catalog.getResource(ref.resourceId);
        if (rec) {
          check(rec.library, `the library of job ${jobId.slice(0, 80)}`);
          break;
        }
        // The resource went away as a duplicate: judged by the resource it matched.
        const outcome = await deps.catalog.outcomes.get(jobId);
        const other = outcome ? (outcome.kind === 'reused' ? outcome.resolvedTo : outcome.matches[0]) : undefined;
        if (other !== undefined) check((await deps.catalog.getResource(other))?.library, `the library of job ${jobId.slice(0, 80)}`);
        break;
      }
      case 'direct-upload': {
        const lib = await directUploadLibrary(deps.redis, deps.config.redis.prefix, segment(3));
        if (lib !== undefined) check(lib, 'the library of this direct upload');
        break;
      }
    }
    await next();
  };
}

/** A buffered JSON body as an object, or undefined (the route answers what is wrong with it). */
async function jsonBody(c: Context): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = JSON.parse(await c.req.raw.clone().text());
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
