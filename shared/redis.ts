import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections, by role. They differ in how they behave while Redis is away:
 * - `catalog`: used by request handlers; fails fast (no offline queue, one retry) so
 *   the API can answer 503 with Retry-After instead of hanging.
 * - `queue`: BullMQ producers (Queue, QueueEvents) in the API.
 * - `worker`: BullMQ Worker; BullMQ requires `maxRetriesPerRequest: null` so blocking
 *   commands survive reconnects.
 */
export type RedisRole = 'catalog' | 'queue' | 'worker';

export function createRedis(url: string, role: RedisRole): Redis {
  const common: RedisOptions = {
    // Reconnect forever with capped backoff; Redis restarts must heal by themselves.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `media-ingest:${role}`,
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    catalog: { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    queue: { maxRetriesPerRequest: 1 },
    worker: { maxRetriesPerRequest: null },
  };
  const redis = new Redis(url, { ...common, ...byRole[role] });
  // An 'error' event without a listener crashes the process; the caller sees failures
  // through rejected commands, and readiness reports them.
  redis.on('error', () => undefined);
  return redis;
}

/** `{prefix}` — braces make it a Redis Cluster hash tag: all our keys share one slot. */
export function keyPrefix(prefix: string): string {
  return `{${prefix}}`;
}

/** ioredis' ways of saying "not connected" — mapped to 503 + Retry-After, never to 500. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|LOADING|READONLY/.test(err.message)
  );
}
