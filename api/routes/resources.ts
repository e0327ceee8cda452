import { Hono } from 'hono';
import { InvalidRequestError, NotFoundError } from '../../shared/errors.js';
import type { ResourceService } from '../../shared/services/resource-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { resourceView } from '../views/resource.js';

const MAX_PAGE = 1000;

export function resourcesRoutes(deps: AppDeps & { resources: ResourceService }) {
  const app = new Hono<AppEnv>();

  app.get('/v1/resources', async (c) => {
    const q = c.req.query();
    const limitRaw = q.limit ?? '100';
    if (!/^\d{1,5}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
      throw new InvalidRequestError(`Expected limit to be an integer from 1 to ${MAX_PAGE} but received ${JSON.stringify(limitRaw.slice(0, 20))}.`);
    }
    const library = q.library ? (await deps.catalog.getLibrary(q.library)).id : undefined;
    const page = await deps.catalog.listResources({ library, cursor: q.cursor, limit: Number(limitRaw) });
    const next = page.nextCursor
      ? `/v1/resources?${new URLSearchParams({ ...(q.library ? { library: q.library } : {}), cursor: page.nextCursor, limit: limitRaw })}`
      : null;
    return c.json({ resources: page.items.map((r) => resourceView(r)), nextCursor: page.nextCursor, links: { next } });
  });

  app.get('/v1/resources/:id', async (c) => {
    const id = parseId(c.req.param('id'));
    const { record, metadata } = await deps.resources.getFull(id);
    return c.json(resourceView(record, metadata));
  });

  app.delete('/v1/resources/:id', async (c) => {
    const id = parseId(c.req.param('id'));
    await deps.resources.delete(id);
    return c.body(null, 204);
  });

  return app;
}

export function parseId(raw: string): number {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new NotFoundError('resource', raw.slice(0, 40));
  return Number(raw);
}
