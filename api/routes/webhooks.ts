import { Hono } from 'hono';
import { LibraryWebhooks } from '../../shared/catalog/webhooks.js';
import { InvalidRequestError, NotFoundError } from '../../shared/errors.js';
import { parseWebhookUrl } from '../../shared/webhooks/webhook-url.js';
import type { AppDeps, AppEnv } from '../deps.js';

/**
 * A library's completion webhook: every upload into it (that names no webhook of its
 * own) is reported to this URL when ready or failed — signed, retried with backoff.
 *
 *   PUT    /v1/libraries/{idOrName}/webhook  {"url": "https://…"}  → 200 {"library", "url"}
 *   GET    /v1/libraries/{idOrName}/webhook                        → 200, or 404 when none
 *   DELETE /v1/libraries/{idOrName}/webhook                        → 204
 */
export function webhooksRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const webhooks = new LibraryWebhooks(deps.redis, deps.config.redisPrefix);
  const secret = deps.config.operations.webhookSecret;

  app.put('/v1/libraries/:library/webhook', async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new InvalidRequestError('Expected a JSON body like {"url": "https://example.com/hooks/media"}.');
    }
    const raw = (body as { url?: unknown } | null)?.url;
    if (typeof raw !== 'string') throw new InvalidRequestError(`Expected url to be a string but received ${JSON.stringify(raw) ?? 'nothing'}.`);
    const url = parseWebhookUrl(raw, secret);
    await webhooks.set(library.id, url);
    return c.json({ library: library.id, url });
  });

  app.get('/v1/libraries/:library/webhook', async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    const url = await webhooks.get(library.id);
    if (!url) throw new NotFoundError('webhook of library', library.name);
    return c.json({ library: library.id, url });
  });

  app.delete('/v1/libraries/:library/webhook', async (c) => {
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    await webhooks.delete(library.id);
    return c.body(null, 204);
  });

  return app;
}
