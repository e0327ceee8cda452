// Production entry point of the worker process: `npm run worker`.
// First: may restart the process with jemalloc (see allocator.ts); nothing below runs then.
import './allocator.js';
import { ConfigError, loadConfig, redisEndpoint } from '../shared/config.js';
import { openCore } from '../shared/core.js';
import { createLogger } from '../shared/logger.js';
import { collectProcessMetrics } from '../shared/metrics.js';
import { createRedis } from '../shared/redis.js';
import { onShutdown } from '../shared/shutdown.js';
import { startMetricsServer } from './metrics-server.js';
import { removeStaleScratch } from './scratch.js';
import { closeWorkers, createWorkers } from './worker.js';

try {
  const config = loadConfig();
  const redis = redisEndpoint(config);
  if (!redis)
    throw new ConfigError([
      'REDIS_URL (e.g. redis://localhost:6379) or REDIS_CLUSTER_NODES (e.g. redis-1:6379,redis-2:6379) is required for `npm run worker`.',
    ]);
  const logger = createLogger(config.process.logLevel, 'worker');
  const core = await openCore(config, redis);
  const stale = await removeStaleScratch();
  if (stale > 0) logger.info({ folders: stale }, 'removed the scratch folders of workers that were killed');
  const connection = createRedis(redis, 'worker');
  const workers = createWorkers({ ...core, connection, redisPrefix: config.redis.prefix, logger, concurrency: config.worker.concurrency });
  collectProcessMetrics();
  // A taken port (several workers on one host with the default) costs the metrics, not
  // the worker: jobs matter more than their counters, and the warning says what to set.
  const metrics = await startMetricsServer(config.worker.metricsPort).catch((err: NodeJS.ErrnoException) => {
    logger.warn(
      { err: err.message, port: config.worker.metricsPort },
      'metrics port unavailable; this worker serves no /metrics (set WORKER_METRICS_PORT, 0 for any free port)',
    );
    return undefined;
  });
  logger.info(
    {
      concurrency: config.worker.concurrency,
      lanes: config.worker.lanes,
      metricsPort: metrics?.port ?? null,
      storage: config.storage.driver,
    },
    'worker started',
  );
  onShutdown(logger, async () => {
    await closeWorkers(workers, config.process.shutdownTimeoutMs);
    await metrics?.close();
    connection.disconnect();
    await core.close();
  });
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}
