import { Hono } from 'hono';
import { InvalidRequestError } from '../../shared/errors.js';
import { DEFAULT_GRACE_SECONDS, OrphanSweeper } from '../../shared/services/orphan-sweeper.js';
import { PendingDirectUploads } from '../../shared/services/pending-direct-uploads.js';
import { ReindexService } from '../../shared/services/reindex.js';
import type { AppDeps, AppEnv } from '../deps.js';

/** Shards one reindex call covers unless asked otherwise: a few seconds of work. */
const DEFAULT_SHARDS = 256;

/**
 * Operator endpoints. `POST /v1/admin/reindex` rebuilds the catalog from the JSON
 * copies in storage, one range of storage shards per call (`{"fromShard":0,"shards":256}`);
 * the answer's `nextShard` is where the next call starts, null when done. The CLI's
 * `media-ingest reindex` drives the calls.
 */
export function adminRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reindex = new ReindexService({
    redis: deps.redis,
    redisPrefix: deps.config.redis.prefix,
    store: deps.store,
    ingestQueue: deps.ingestQueue,
    resourceQueues: [deps.ingestQueue, deps.bulkQueue],
    jobAttempts: deps.config.jobs.attempts,
  });

  app.post('/v1/admin/reindex', async (c) => {
    const text = await c.req.text();
    let body: { fromShard?: unknown; shards?: unknown } = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new InvalidRequestError(
          'Expected a JSON object such as {"fromShard":0,"shards":256} (or no body) but the body is not valid JSON.',
        );
      }
    }
    const page = await reindex.run({ fromShard: Number(body?.fromShard ?? 0), shards: Number(body?.shards ?? DEFAULT_SHARDS) });
    return c.json(page);
  });

  // Orphans (issue 9): `POST /v1/admin/sweep` removes objects no record accounts for,
  // older than `graceSeconds` (default a day), paged by shard like reindex;
  // `GET /v1/admin/check?cursor=&limit=` lists records whose objects are missing.
  const sweeper = new OrphanSweeper({
    ...deps,
    directUploads: new PendingDirectUploads(deps.redis, deps.config.redis.prefix),
    ...(deps.config.storage.driver === 's3' ? { multipartMaxAgeSeconds: deps.config.storage.multipartMaxAgeSeconds } : {}),
    // Uploads' and reverts' jobs live on the ingest queue, bulk reverts' on the bulk lane.
    jobExists: async (jobId) =>
      (await deps.ingestQueue.getJobState(jobId)) !== 'unknown' || (await deps.bulkQueue.getJobState(jobId)) !== 'unknown',
  });
  app.post('/v1/admin/sweep', async (c) => {
    const text = await c.req.text();
    let body: Record<string, unknown> = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new InvalidRequestError(
          'Expected a JSON object such as {"fromShard":0,"shards":256,"graceSeconds":86400,"dryRun":true} (or no body) but the body is not valid JSON.',
        );
      }
    }
    return c.json(
      await sweeper.sweep({
        fromShard: Number(body.fromShard ?? 0),
        shards: Number(body.shards ?? DEFAULT_SHARDS),
        graceSeconds: Number(body.graceSeconds ?? DEFAULT_GRACE_SECONDS),
        dryRun: body.dryRun === true,
        removeUnindexed: body.removeUnindexed === true,
      }),
    );
  });
  app.get('/v1/admin/check', async (c) => {
    const cursor = c.req.query('cursor');
    return c.json(await sweeper.check({ limit: Number(c.req.query('limit') ?? 500), ...(cursor ? { cursor } : {}) }));
  });

  return app;
}
