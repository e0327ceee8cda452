import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ForbiddenError, NotFoundError, UnauthorizedError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import { problemResponse, toProblem } from '../error-handler.js';
import type { AuthThrottle } from './auth-throttle.js';

/**
 * Operator pages and actions (the queue dashboard, /v1/admin): ADMIN_KEYS, not the API
 * keys — an uploading client must not be able to pause the fleet. A browser cannot send
 * a Bearer header, so HTTP Basic with any user name and the key as password works too,
 * and the 401 asks for Basic so the browser prompts. No ADMIN_KEYS: the routes do not
 * exist (404). Failed keys count toward the client address's AUTH_FAILURES_PER_MINUTE.
 *
 * A browser that holds the Basic credential sends it with any request, a cross-site one
 * too: so an action (any method but GET/HEAD) is refused when its Origin is another
 * site's, or when its body is a form (what a cross-site page can post without asking,
 * CORS's "simple" types) — actions take JSON or no body. And no page may frame these
 * (clickjacking): X-Frame-Options and CSP frame-ancestors on every answer.
 */
export function adminAuth(keys: readonly string[], throttle: AuthThrottle, publicUrl: string): MiddlewareHandler {
  const digests = keys.map(sha256);
  const ownOrigin = new URL(publicUrl).origin;
  return async (c, next) => {
    if (digests.length === 0) throw new NotFoundError('route', `${c.req.method} ${c.req.path}`);
    try {
      await throttle.guard(c, () => {
        const given = credential(c.req.header('authorization') ?? '');
        let ok = false;
        if (given !== undefined) {
          const d = sha256(given);
          for (const k of digests) ok = timingSafeEqual(k, d) || ok;
        }
        if (!ok)
          throw new UnauthorizedError('Send an admin key (ADMIN_KEYS) as "Authorization: Bearer <key>", or as the password of HTTP Basic.');
      });
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
      const res = problemResponse(c, toProblem(err));
      res.headers.set('WWW-Authenticate', 'Basic realm="media-ingest admin", charset="UTF-8"');
      return res;
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') refuseCrossSite(c, ownOrigin);
    await next();
    try {
      c.res.headers.set('X-Frame-Options', 'DENY');
      const csp = c.res.headers.get('Content-Security-Policy');
      c.res.headers.set('Content-Security-Policy', csp ? `${csp}; frame-ancestors 'none'` : "frame-ancestors 'none'");
    } catch {
      // An immutable response (a static file's): rebuild it with the headers.
      const headers = new Headers(c.res.headers);
      headers.set('X-Frame-Options', 'DENY');
      headers.set('Content-Security-Policy', "frame-ancestors 'none'");
      c.res = new Response(c.res.body, { status: c.res.status, headers });
    }
  };
}

/**
 * Whether an Authorization header carries an admin key — for a page asking what to show
 * (GET /v1/whoami); unlike the guard it counts no failure, the caller is authenticated.
 */
export function isAdminCredential(keys: readonly string[]): (authorization: string) => boolean {
  const digests = keys.map(sha256);
  return (authorization) => {
    const given = credential(authorization);
    if (given === undefined) return false;
    const d = sha256(given);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

function refuseCrossSite(c: Context, ownOrigin: string): void {
  const origin = c.req.header('origin');
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    // The page's own origin: the public URL, or the host the browser addressed (as a
    // proxy passes it on); a cross-site page cannot make its Origin either.
    if (origin !== ownOrigin && (host === undefined || host !== c.req.header('host'))) {
      throw new ForbiddenError(
        `Admin actions are taken from this server's own pages only; the request came from ${JSON.stringify(origin.slice(0, 200))}.`,
      );
    }
  }
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type && !/^application\/(.+\+)?json$/.test(type)) {
    throw new UnsupportedMediaTypeError('application/json (or no body) for admin actions', type);
  }
}

function credential(header: string): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : decoded.slice(i + 1);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
