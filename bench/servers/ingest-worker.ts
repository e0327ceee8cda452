/**
 * The worker of the rendition benches, without worker/main.ts's allocator restart: the
 * bench sets LD_PRELOAD (or not) itself, so the pid it measures is the process doing the
 * work, and the glibc variant really runs on glibc. Otherwise what `npm run worker` runs:
 * the same config, core and createWorkers. Env: as the worker, all from the bench.
 */
import { loadConfig, redisEndpoint } from '../../shared/config.js';
import { openCore } from '../../shared/core.js';
import { createLogger } from '../../shared/logger.js';
import { createRedis } from '../../shared/redis.js';
import { onShutdown } from '../../shared/shutdown.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';

const config = loadConfig();
const logger = createLogger(config.process.logLevel, 'bench-worker');
const redis = redisEndpoint(config)!;
const core = await openCore(config, redis);
const connection = createRedis(redis, 'worker');
const workers = createWorkers({ ...core, connection, redisPrefix: config.redis.prefix, logger, concurrency: config.worker.concurrency });
console.log('worker ready');
onShutdown(logger, async () => {
  await closeWorkers(workers, config.process.shutdownTimeoutMs);
  connection.disconnect();
  await core.close();
});
