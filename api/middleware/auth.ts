import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiKeyRecord, ApiKeyStore } from '../../shared/catalog/api-keys.js';
import { UnauthorizedError } from '../../shared/errors.js';
import type { AppEnv } from '../deps.js';
import type { AuthThrottle } from './auth-throttle.js';

/**
 * Who a request acts as: a full-access key (API_KEYS from the environment), or a scoped
 * key (POST /v1/admin/keys) with its libraries and permissions.
 */
export type Access = { kind: 'full' } | { kind: 'scoped'; key: ApiKeyRecord };

export const FULL_ACCESS: Access = Object.freeze({ kind: 'full' });

export interface ApiKeyAuth {
  /** The key of `Authorization: Bearer <key>`: its access, or UnauthorizedError. */
  verify(header: string | undefined): Promise<Access>;
}

/**
 * `Authorization: Bearer <key>`: the configured keys first — compared as SHA-256
 * digests with timingSafeEqual, against every key, so neither the length nor the
 * position of a match leaks through timing — then the scoped keys in Redis.
 */
export function apiKeyAuth(keys: readonly string[], store?: ApiKeyStore): ApiKeyAuth {
  const digests = keys.map((k) => sha256(k));
  return {
    async verify(header) {
      const h = header ?? '';
      const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
      if (!m) {
        throw new UnauthorizedError(
          h
            ? 'Expected "Authorization: Bearer <key>" but the header has another form.'
            : 'Send an API key as "Authorization: Bearer <key>".',
        );
      }
      const given = sha256(m[1]!);
      let ok = false;
      for (const d of digests) ok = timingSafeEqual(d, given) || ok;
      if (ok) return FULL_ACCESS;
      const scoped = await store?.verify(m[1]!);
      if (scoped) return { kind: 'scoped', key: scoped };
      throw new UnauthorizedError('The API key is not valid. Scoped keys stop working when revoked or expired.');
    },
  };
}

/** The middleware: refuses without a valid key (throttled per client address), else records the access. */
export function bearerAuth(auth: ApiKeyAuth, throttle: AuthThrottle): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const access = await throttle.guard(c, () => auth.verify(c.req.header('authorization')));
    c.set('access', access);
    await next();
  };
}

/** The access `bearerAuth` recorded; full when the route is not behind it (never for /v1). */
export function accessOf(c: Context): Access {
  return (c.get('access') as Access | undefined) ?? FULL_ACCESS;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
