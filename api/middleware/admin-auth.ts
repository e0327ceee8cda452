import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { NotFoundError, UnauthorizedError } from '../../shared/errors.js';
import { problemResponse, toProblem } from '../error-handler.js';

/**
 * Operator pages and actions (the queue dashboard): ADMIN_KEYS, not the API keys — an
 * uploading client must not be able to pause the fleet. A browser cannot send a Bearer
 * header, so HTTP Basic with any user name and the key as password works too, and the
 * 401 asks for Basic so the browser prompts. No ADMIN_KEYS: the routes do not exist (404).
 */
export function adminAuth(keys: readonly string[]): MiddlewareHandler {
  const digests = keys.map(sha256);
  return async (c, next) => {
    if (digests.length === 0) throw new NotFoundError('route', `${c.req.method} ${c.req.path}`);
    const given = credential(c.req.header('authorization') ?? '');
    let ok = false;
    if (given !== undefined) {
      const d = sha256(given);
      for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    }
    if (!ok) {
      const res = problemResponse(c, toProblem(new UnauthorizedError('Send an admin key (ADMIN_KEYS) as "Authorization: Bearer <key>", or as the password of HTTP Basic.')));
      res.headers.set('WWW-Authenticate', 'Basic realm="media-ingest admin", charset="UTF-8"');
      return res;
    }
    await next();
  };
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
