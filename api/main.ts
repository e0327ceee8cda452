// Production entry point of the API process: `npm run api`.
import { ConfigError, loadConfig, redisEndpoint } from '../shared/config.js';
import { openCore } from '../shared/core.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown } from '../shared/shutdown.js';
import { startApi } from './server.js';

try {
  const config = loadConfig();
  const problems: string[] = [];
  const redis = redisEndpoint(config);
  if (!redis)
    problems.push(
      'REDIS_URL (e.g. redis://localhost:6379) or REDIS_CLUSTER_NODES (e.g. redis-1:6379,redis-2:6379) is required for `npm run api`; `npm start` runs its own Redis.',
    );
  if (config.auth.apiKeys.length === 0)
    problems.push('API_KEYS is required for `npm run api`: comma-separated keys of at least 16 characters.');
  if (problems.length) throw new ConfigError(problems);
  const logger = createLogger(config.process.logLevel, 'api');
  const core = await openCore(config, redis!);
  const api = await startApi(config, core, redis!, logger);
  logger.info({ url: api.url, storage: config.storage.driver }, 'api listening');
  onShutdown(logger, async () => {
    await api.close();
    await core.close();
  });
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}
