import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Config } from '../shared/config.js';
import type { Core } from '../shared/core.js';
import { JobWaiter } from '../shared/jobs/job-waiter.js';
import type { Queue } from 'bullmq';
import { openQueueEvents, openQueues, QUEUE_NAMES, QUEUES } from '../shared/jobs/queue-table.js';
import { RenderWaiter } from '../shared/jobs/render-waiter.js';
import type { Logger } from '../shared/logger.js';
import { collectProcessMetrics, trackQueueDepth } from '../shared/metrics.js';
import { createRedis, type RedisTarget } from '../shared/redis.js';
import { TusService } from '../shared/services/tus-service.js';
import { UploadService } from '../shared/services/upload-service.js';
import { createTusData } from '../shared/upload/tus-data.js';
import { HashPool } from '../shared/upload/hash-pool.js';
import { createApp } from './app.js';
import { limitConnectionsPerClient } from './middleware/connection-limit.js';

export interface RunningApi {
  server: Server;
  url: string;
  /** Stop accepting, let in-flight requests finish up to the timeout, then close everything. */
  close(): Promise<void>;
}

export async function startApi(config: Config, core: Core, redis: RedisTarget, logger: Logger): Promise<RunningApi> {
  const queueRedis = createRedis(redis, 'queue');
  const eventsRedis = createRedis(redis, 'worker');
  const queues = openQueues(queueRedis, config.redis.prefix);
  const { ingest: ingestQueue, render: renderQueue, bulk: bulkQueue } = queues;
  const events = openQueueEvents('ingest', eventsRedis, config.redis.prefix);
  const waiter = new JobWaiter(core.catalog, events);
  const renderEventsRedis = createRedis(redis, 'worker');
  const renderEvents = openQueueEvents('render', renderEventsRedis, config.redis.prefix);
  const renders = new RenderWaiter(renderQueue, renderEvents, core.store, config.jobs.attempts);
  collectProcessMetrics();
  const untrack = trackQueueDepth(QUEUE_NAMES.map((q) => ({ lane: QUEUES[q].lane, queue: queues[q] as Queue })));
  const hashPool = new HashPool(config.uploads.hashThreads);
  const uploads = new UploadService({
    catalog: core.catalog,
    store: core.store,
    ingestQueue,
    jobAttempts: config.jobs.attempts,
    maxUploadBytes: config.uploads.maxBytes,
    hashPool,
  });
  const tus = new TusService({
    uploads,
    redis: core.redis,
    redisPrefix: config.redis.prefix,
    data: createTusData(config, core.store),
    expirySeconds: config.uploads.tus.expirySeconds,
    partSize: config.storage.driver === 's3' ? config.storage.partSize : 0,
    logger,
  });
  // Every replica sweeps; the upload's lock keeps two from removing the same one.
  const tusSweep =
    config.uploads.tus.sweepIntervalSeconds > 0
      ? setInterval(
          () => void tus.sweep().catch((err: unknown) => logger.warn({ err }, 'tus sweep failed')),
          config.uploads.tus.sweepIntervalSeconds * 1000,
        )
      : undefined;
  tusSweep?.unref();
  // Built once the port is known: links use it when PUBLIC_URL is unset and PORT=0.
  const built: { app?: ReturnType<typeof createApp> } = {};

  const server = await new Promise<Server>((resolve) => {
    const s = serve(
      {
        fetch: (req, env) => built.app!.fetch(req, env),
        port: config.http.port,
        hostname: config.http.host,
        serverOptions: {
          // Uploads of gigabytes take long: no limit on a whole request, but the headers
          // must arrive promptly (slowloris), an idle socket is dropped (below), and every
          // body but an authenticated upload's file must arrive within REQUEST_TIMEOUT_MS
          // (api/middleware/request-timeout.ts).
          requestTimeout: 0,
          headersTimeout: config.http.headersTimeoutMs,
          // Node enforces headersTimeout only when it sweeps connections (every 30 s by
          // default): sweep often enough that a short limit is a real one.
          connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(config.http.headersTimeoutMs / 4))),
          keepAliveTimeout: 5_000,
        },
      },
      () => resolve(s as Server),
    );
  });
  server.setTimeout(config.http.socketIdleTimeoutMs);
  limitConnectionsPerClient(server, config.http.maxConnectionsPerClient);
  // With a 'checkContinue' listener Node no longer answers `Expect: 100-continue` by
  // itself: the request goes to the app, which sends 100 Continue only when it wants
  // the body (api/middleware/expect-continue.ts) — so a duplicate is refused before a
  // byte of it is sent.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.http.port;
  const url = config.http.port === 0 ? `http://127.0.0.1:${port}` : config.http.publicUrl;
  built.app = createApp({
    config,
    catalog: core.catalog,
    redis: core.redis,
    store: core.store,
    ingestQueue,
    bulkQueue,
    uploads,
    tus,
    waiter,
    renders,
    logger,
    publicUrl: url,
  });

  return {
    server,
    url,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.process.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
      clearInterval(tusSweep);
      // Paused tus uploads keep running hashes open on the threads (parked chains).
      await hashPool.close();
      await waiter.close();
      await events.close();
      untrack();
      await renders.close();
      await renderEvents.close();
      await Promise.all(Object.values(queues).map((q) => q.close()));
      renderEventsRedis.disconnect();
      queueRedis.disconnect();
      eventsRedis.disconnect();
    },
  };
}
