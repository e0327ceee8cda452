// `npm start`: the whole service on one machine with embedded defaults — local-disk
// storage under DATA_DIR, a private redis-server (unless REDIS_URL is set), API and
// worker in one process. Prints where to send the first upload.
//
// Run as `node --import tsx start.ts`, not through the tsx command: that one runs the
// service as a child and relays each signal to it, and when the child does not confirm
// a signal within 30 ms (an event loop busy with uploads) it SIGKILLs it — cutting
// the very uploads a graceful shutdown is there to finish. `exec` in the npm script makes
// the service npm's own child: a shell in between dies of the signal at once, and npm
// then exits 143 while the service is still draining.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startApi } from './api/server.js';
import { ConfigError, loadConfig, redisEndpoint } from './shared/config.js';
import { openCore } from './shared/core.js';
import { hasRedisServer, startEmbeddedRedis, type EmbeddedRedis } from './shared/embedded-redis.js';
import { createLogger } from './shared/logger.js';
import { createRedis, describeEndpoint } from './shared/redis.js';
import { onShutdown } from './shared/shutdown.js';
import { ensureMediaPrograms } from './worker/media-programs.js';
import { closeWorkers, createWorkers } from './worker/worker.js';

async function main() {
  const base = loadConfig();
  // A key of our own when none is configured, kept in DATA_DIR so it survives restarts.
  const generatedKey = base.auth.apiKeys.length === 0 ? await ensureLocalKey(base.process.dataDir) : undefined;
  // One machine, one user: without ADMIN_KEYS, the local key is the admin key too
  // (reindex, sweep, the queue dashboard).
  const localKey = generatedKey ?? base.auth.apiKeys[0]!;
  const config = loadConfig({
    ...process.env,
    API_KEYS: base.auth.apiKeys.length ? process.env.API_KEYS : localKey,
    ADMIN_KEYS: base.auth.adminKeys.length ? process.env.ADMIN_KEYS : localKey,
  });
  const logger = createLogger(config.process.logLevel, 'media-ingest');

  let embedded: EmbeddedRedis | undefined;
  let redis = redisEndpoint(config);
  if (!redis) {
    ensureRedisServer();
    embedded = await startEmbeddedRedis({ dir: path.join(config.process.dataDir, 'redis'), appendonly: true, ownProcessGroup: true });
    redis = { url: embedded.url };
  }

  // Missing decoders (ffmpeg, poppler, ImageMagick) are installed where we can; otherwise
  // their types are stored as plain files, and this says so.
  ensureMediaPrograms({ install: true, log: (l) => logger.warn(l) });
  const core = await openCore(config, redis);
  const api = await startApi(config, core, redis, logger);
  const workerConnection = createRedis(redis, 'worker');
  const workers = createWorkers({
    ...core,
    connection: workerConnection,
    redisPrefix: config.redis.prefix,
    logger,
    concurrency: config.worker.concurrency,
  });

  const key = config.auth.apiKeys[0]!;
  const lines = [
    '',
    `media-ingest is running at ${api.url}`,
    `  storage: ${config.storage.driver === 'fs' ? config.storage.root : `s3 bucket ${config.storage.bucket}`}`,
    `  redis:   ${embedded ? `embedded (${embedded.url}, data in ${path.join(config.process.dataDir, 'redis')})` : describeEndpoint(redis)}`,
    `  API key: ${generatedKey ? `${key}   (generated, saved in ${path.join(config.process.dataDir, 'api-key')})` : '(from API_KEYS)'}`,
    '',
    'Send your first upload:',
    `  curl -i -H "Authorization: Bearer ${generatedKey ? key : '$API_KEY'}" -F "file=@photo.jpg" "${api.url}/v1/libraries/default/files?wait=30"`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  // Redis last: the drain of uploads and jobs needs it.
  onShutdown(logger, async () => {
    await api.close();
    await closeWorkers(workers, config.process.shutdownTimeoutMs);
    workerConnection.disconnect();
    await core.close();
    await embedded?.stop();
  });
}

async function ensureLocalKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'api-key');
  try {
    const k = (await fs.readFile(file, 'utf8')).trim();
    if (k.length >= 16) return k;
  } catch {
    // none yet
  }
  const key = `mi_${randomBytes(24).toString('base64url')}`;
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * redis-server missing: scripts/ensure-deps.sh (the one table of system dependencies)
 * installs it where it can (root with apt-get), else we say exactly how.
 */
function ensureRedisServer() {
  if (hasRedisServer()) return;
  try {
    execFileSync('bash', [path.join(import.meta.dirname, 'scripts', 'ensure-deps.sh'), '--only', 'redis-server'], { stdio: 'inherit' });
  } catch {
    // It said why; the message below says what to do.
  }
  if (hasRedisServer()) return;
  throw new Error(
    [
      'redis-server is not installed, and npm start needs it to run its private Redis. Either:',
      '  - install it: sudo apt-get install redis-server   (Debian/Ubuntu)',
      '                brew install redis                  (macOS)',
      '  - or point at a running Redis: REDIS_URL=redis://localhost:6379 npm start',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err instanceof Error ? err.message : err);
  process.exit(1);
});
