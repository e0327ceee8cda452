import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { rateLimited } from '../../shared/metrics.js';
import { keyPrefix, type RedisConnection } from '../../shared/redis.js';

/**
 * Requests per minute per API key, counted in Redis so every API replica draws from
 * the same allowance (rate-limiter-flexible: one Lua INCR+PEXPIRE per request, a fixed
 * one-minute window per key). Over it: 429 with Retry-After (seconds to the window's
 * end), and RateLimit-* headers on every answer so clients can pace themselves.
 *
 * Goes after the key check: unauthenticated requests are refused before they cost a
 * Redis round trip, and the counter is per key, not per address (batch clients behind
 * one NAT share nothing). If Redis does not answer, the request goes through: the
 * handler will meet the same outage and answer 503, which tells the client more.
 */
export function rateLimit(
  redis: RedisConnection,
  prefix: string,
  perMinute: number,
  logger: Logger,
  /** The credential the allowance belongs to (the bucket-events route's token may come in the query). */
  credentialOf: (c: Context) => string = (c) => c.req.header('authorization') ?? '',
): MiddlewareHandler {
  if (perMinute <= 0) return (_c, next) => next();
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    // The `{prefix}` hash tag: one Redis Cluster slot with the rest of our keys.
    keyPrefix: `${keyPrefix(prefix)}:rl`,
    points: perMinute,
    duration: 60,
  });
  return async (c, next) => {
    const key = keyId(credentialOf(c));
    let res: RateLimiterRes | undefined;
    try {
      res = await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        rateLimited.inc();
        const retryAfter = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
        c.header('RateLimit-Limit', String(perMinute));
        c.header('RateLimit-Remaining', '0');
        c.header('RateLimit-Reset', String(retryAfter));
        throw new RateLimitedError(perMinute, retryAfter);
      }
      logger.warn({ err }, 'rate limit not checked: Redis did not answer');
    }
    if (res) {
      c.header('RateLimit-Limit', String(perMinute));
      c.header('RateLimit-Remaining', String(res.remainingPoints));
      c.header('RateLimit-Reset', String(Math.ceil(res.msBeforeNext / 1000)));
    }
    await next();
  };
}

/** The key's digest, not the key: Redis never holds a usable credential. */
function keyId(authorization: string): string {
  return createHash('sha256')
    .update(authorization.replace(/^Bearer\s+/i, '').trim())
    .digest('hex')
    .slice(0, 32);
}
