import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from '../../shared/errors.js';

/**
 * `Authorization: Bearer <key>` against the configured keys. Compared as SHA-256
 * digests with timingSafeEqual, and against every key, so neither the length nor the
 * position of a match leaks through timing.
 */
export function bearerAuth(keys: readonly string[]): MiddlewareHandler {
  const digests = keys.map((k) => sha256(k));
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      throw new UnauthorizedError(
        header ? 'Expected "Authorization: Bearer <key>" but the header has another form.' : 'Send an API key as "Authorization: Bearer <key>".',
      );
    }
    const given = sha256(m[1]!);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, given) || ok;
    if (!ok) throw new UnauthorizedError('The API key is not valid.');
    await next();
  };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
