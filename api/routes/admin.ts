import { Hono } from 'hono';
import { InvalidRequestError } from '../../shared/errors.js';
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
    redisPrefix: deps.config.redisPrefix,
    store: deps.store,
    ingestQueue: deps.ingestQueue,
    jobAttempts: deps.config.jobAttempts,
  });

  app.post('/v1/admin/reindex', async (c) => {
    const text = await c.req.text();
    let body: { fromShard?: unknown; shards?: unknown } = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new InvalidRequestError('Expected a JSON object such as {"fromShard":0,"shards":256} (or no body) but the body is not valid JSON.');
      }
    }
    const page = await reindex.run({ fromShard: Number(body?.fromShard ?? 0), shards: Number(body?.shards ?? DEFAULT_SHARDS) });
    return c.json(page);
  });

  return app;
}
