import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A connection as the code passes it around: a single Redis or a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** Where Redis is: one server (REDIS_URL) or a cluster's seed nodes (REDIS_CLUSTER_NODES). */
export type RedisEndpoint = { readonly url: string } | { readonly clusterNodes: readonly RedisNodeAddress[] };

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` of a seed node, as error messages and REDIS_CLUSTER_NODES name it. */
export function nodeAddress(n: RedisNodeAddress): string {
  return `${n.host}:${n.port}`;
}

export function describeEndpoint(e: RedisEndpoint): string {
  return 'url' in e ? e.url : `cluster ${e.clusterNodes.map(nodeAddress).join(',')}`;
}

/**
 * Redis connections, by role. They differ in how they behave while Redis is away:
 * - `catalog`: used by request handlers; fails fast (no offline queue, one retry) so
 *   the API can answer 503 with Retry-After instead of hanging.
 * - `queue`: BullMQ producers (Queue, QueueEvents) in the API.
 * - `worker`: BullMQ Worker; BullMQ requires `maxRetriesPerRequest: null` so blocking
 *   commands survive reconnects.
 */
export type RedisRole = 'catalog' | 'queue' | 'worker';

const BY_ROLE: Record<RedisRole, RedisOptions> = {
  catalog: { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
  queue: { maxRetriesPerRequest: 1 },
  worker: { maxRetriesPerRequest: null },
};

/** A REDIS_URL-style string is shorthand for `{ url }`. */
export type RedisTarget = RedisEndpoint | string;

export function toEndpoint(target: RedisTarget): RedisEndpoint {
  return typeof target === 'string' ? { url: target } : target;
}

export function createRedis(target: RedisTarget, role: RedisRole): RedisConnection {
  const endpoint = toEndpoint(target);
  const common: RedisOptions = {
    // Reconnect forever with capped backoff; Redis restarts must heal by themselves.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `media-ingest:${role}`,
  };
  const { enableOfflineQueue, ...perNode } = BY_ROLE[role];
  const redis =
    'url' in endpoint
      ? new Redis(endpoint.url, { ...common, ...BY_ROLE[role] })
      : new Cluster(
          endpoint.clusterNodes.map((n) => ({ host: n.host, port: n.port })),
          clusterOptions(common, perNode, enableOfflineQueue),
        );
  // An 'error' event without a listener crashes the process; the caller sees failures
  // through rejected commands, and readiness reports them.
  redis.on('error', () => undefined);
  return redis;
}

function clusterOptions(common: RedisOptions, perNode: RedisOptions, enableOfflineQueue: boolean | undefined): ClusterOptions {
  return {
    redisOptions: { ...common, ...perNode },
    // The cluster object reconnects forever too: a whole-cluster outage heals by itself.
    clusterRetryStrategy: (times) => Math.min(100 + times * 200, 2_000),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // A failover takes the cluster's node timeout plus an election (seconds): MOVED,
    // TRYAGAIN and CLUSTERDOWN are retried within ioredis for about that long, then
    // the caller gets the error (the API: 503 + Retry-After).
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    maxRedirections: 16,
    // Replicas are for failover only: reads from a replica could miss a write the
    // request just made (asynchronous replication).
    scaleReads: 'master',
    // Slots are rebalanced and masters fail over while we run: learn the new map soon.
    slotsRefreshInterval: 5_000,
  };
}

/** `{prefix}` — braces make it a Redis Cluster hash tag: every key under it shares one slot. */
export function keyPrefix(prefix: string): string {
  return `{${prefix}}`;
}

/**
 * ioredis' and Redis Cluster's ways of saying "not available right now" — mapped to
 * 503 + Retry-After, never to 500: not connected, loading, a read-only replica, a
 * cluster that is down or re-sharding (CLUSTERDOWN, TRYAGAIN), a cluster client that
 * is not ready or cannot find a master for a slot (failover in progress).
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    err.name === 'ClusterAllFailedError' ||
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|Cluster isn't ready|cluster isn't ready|Failed to refresh slots cache|None of startup nodes is available|Too many Cluster redirections|Cluster is disconnected/.test(
      err.message,
    )
  );
}

export function isCluster(redis: RedisConnection): redis is Cluster {
  return redis instanceof Cluster;
}

/**
 * Asks each seed node on its own whether it is a healthy member of a Redis Cluster,
 * so a wrong seed list fails start-up with the nodes it names and why (refused, not a
 * cluster node, cluster not ok) instead of retrying in silence.
 */
export async function probeClusterSeeds(
  nodes: readonly RedisNodeAddress[],
  timeoutMs = 3_000,
): Promise<{ node: string; problem: string | undefined }[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const r = new Redis({
        host: n.host,
        port: n.port,
        lazyConnect: true,
        connectTimeout: timeoutMs,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableOfflineQueue: false,
      });
      let cause: Error | undefined;
      r.on('error', (err: Error) => (cause ??= err));
      try {
        await r.connect();
        const info = (await r.call('CLUSTER', 'INFO')) as string;
        const state = /cluster_state:(\w+)/.exec(info)?.[1];
        return { node: nodeAddress(n), problem: state === 'ok' ? undefined : `cluster_state is ${state ?? 'unknown'}` };
      } catch (err) {
        // ioredis rejects with "Connection is closed"; the 'error' event has the reason.
        const msg = (cause ?? (err as Error)).message;
        return {
          node: nodeAddress(n),
          problem: /cluster support disabled/i.test(msg) ? 'not a cluster node (cluster support disabled; use REDIS_URL)' : msg,
        };
      } finally {
        r.disconnect();
      }
    }),
  );
}
