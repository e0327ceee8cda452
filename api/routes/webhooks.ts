import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { LibraryWebhooks } from '../../shared/catalog/webhooks.js';
import { NotFoundError } from '../../shared/errors.js';
import { parseWebhookUrl } from '../../shared/webhooks/webhook-url.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { validationHook } from '../validation.js';
import { problems, jsonBody } from '../schemas.js';

/**
 * A library's completion webhook: every upload into it (that names no webhook of its
 * own) is reported to this URL when ready or failed — signed, retried with backoff.
 * Declared with schemas: they validate requests and make the OpenAPI document (/docs).
 */
const params = z.object({ library: z.string().min(1).openapi({ description: 'Library id or name', example: 'photos' }) });
const webhook = z
  .object({ library: z.number().int().openapi({ example: 2 }), url: z.string().openapi({ example: 'https://example.com/hooks/media' }) })
  .openapi('LibraryWebhook');

const put = createRoute({
  method: 'put',
  path: '/v1/libraries/{library}/webhook',
  tags: ['webhooks'],
  summary: "Set a library's completion webhook",
  security: [{ bearer: [] }],
  request: {
    params,
    body: jsonBody(z.object({ url: z.string().max(2000).openapi({ example: 'https://example.com/hooks/media' }) }).strict()),
  },
  responses: {
    200: { description: 'Set', content: { 'application/json': { schema: webhook } } },
    ...problems({ 400: 'Not an http(s) URL, or webhooks are off (no WEBHOOK_SECRET)', 404: 'No such library' }),
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/libraries/{library}/webhook',
  tags: ['webhooks'],
  summary: "A library's completion webhook",
  security: [{ bearer: [] }],
  request: { params },
  responses: {
    200: { description: 'The webhook', content: { 'application/json': { schema: webhook } } },
    ...problems({ 404: 'No such library, or it has no webhook' }),
  },
});

const del = createRoute({
  method: 'delete',
  path: '/v1/libraries/{library}/webhook',
  tags: ['webhooks'],
  summary: "Remove a library's completion webhook",
  security: [{ bearer: [] }],
  request: { params },
  responses: { 204: { description: 'Removed (or there was none)' }, ...problems({ 404: 'No such library' }) },
});

export function webhooksRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const webhooks = new LibraryWebhooks(deps.redis, deps.config.redis.prefix);
  const secret = deps.config.webhooks.secret;

  app.openapi(put, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.valid('param').library);
    const url = parseWebhookUrl(c.req.valid('json').url, secret, deps.config.webhooks.allowPrivate);
    await webhooks.set(library.id, url);
    return c.json({ library: library.id, url }, 200);
  });

  app.openapi(get, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.valid('param').library);
    const url = await webhooks.get(library.id);
    if (!url) throw new NotFoundError('webhook of library', library.name);
    return c.json({ library: library.id, url }, 200);
  });

  app.openapi(del, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.valid('param').library);
    await webhooks.delete(library.id);
    return c.body(null, 204);
  });

  return app;
}
