import { isIPv6 } from 'node:net';
import type { Context } from 'hono';
import type { RedisConnection } from '../../shared/redis.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { securityKeys } from '../../shared/catalog/keys.js';
import { AuthThrottledError, UnauthorizedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { nodeIo } from '../deps.js';

/**
 * Failed authentications per client address and minute, counted in Redis so that every
 * API replica draws on the same allowance (rate-limiter-flexible, a fixed one-minute
 * window). Every way in counts — Bearer and admin keys, each face's credential, signed
 * image URLs — so guessing on one face cannot continue on another. Past the limit every
 * authentication from the address answers 429 with Retry-After, the right credential
 * too: otherwise the answer would still tell a right guess from a wrong one.
 *
 * If Redis does not answer, nothing is throttled (logged): the handler meets the same
 * outage and answers 503.
 */
export class AuthThrottle {
  private readonly limiter: RateLimiterRedis | undefined;

  constructor(
    redis: RedisConnection,
    prefix: string,
    private readonly perMinute: number,
    private readonly logger: Logger,
  ) {
    this.limiter =
      perMinute > 0
        ? new RateLimiterRedis({ storeClient: redis, keyPrefix: securityKeys(prefix).authFailures, points: perMinute, duration: 60 })
        : undefined;
  }

  /**
   * Runs `check` (which throws UnauthorizedError for a bad credential): a failure is
   * counted, and past the limit answers 429 instead of 401; a success from an address
   * over the limit answers 429 too.
   */
  async guard<T>(c: Context, check: () => T | Promise<T>): Promise<T> {
    const address = clientAddress(c);
    let result: T;
    try {
      result = await check();
    } catch (err) {
      // The 401 keeps the connection: a client refused mid-upload must get to read it
      // (the unread rest of the body is drained for at most half a second, @hono/node-server).
      if (err instanceof UnauthorizedError) await this.failed(c, address);
      throw err;
    }
    if (this.limiter) await this.assertAllowed(c, address);
    return result;
  }

  /** Counts one failure; throws the 429 once the address is past the limit. */
  async failed(c: Context, address = clientAddress(c)): Promise<void> {
    if (!this.limiter) return;
    try {
      await this.limiter.consume(address);
    } catch (err) {
      if (err instanceof RateLimiterRes) this.refuse(c, err);
      this.logger.warn({ err }, 'failed authentication not counted: Redis did not answer');
    }
  }

  private async assertAllowed(c: Context, address: string): Promise<void> {
    let res: RateLimiterRes | null;
    try {
      res = await this.limiter!.get(address);
    } catch (err) {
      this.logger.warn({ err }, 'failed authentications not checked: Redis did not answer');
      return;
    }
    if (res && res.consumedPoints > this.perMinute) this.refuse(c, res);
  }

  private refuse(c: Context, res: RateLimiterRes): never {
    const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    // Set on the context, so each face's own error body carries it too.
    c.header('Retry-After', String(retryAfter));
    c.header('Connection', 'close');
    throw new AuthThrottledError(this.perMinute, retryAfter);
  }
}

/**
 * The address a request came from: the TCP peer (a proxy's forwarding headers are not
 * trusted — any client can send them). IPv6 clients are counted per /64, the block one
 * subscriber usually holds.
 */
export function clientAddress(c: Context): string {
  const socket = nodeIo(c).incoming?.socket;
  return normaliseAddress(socket?.remoteAddress ?? 'unknown');
}

export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
