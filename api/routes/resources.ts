import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { InvalidRequestError, NotFoundError } from '../../shared/errors.js';
import type { ResourceService } from '../../shared/services/resource-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { numericId, problems } from '../schemas.js';
import { validationHook } from '../validation.js';
import { resourceView } from '../views/resource.js';
import { allowedLibraries } from '../middleware/scope.js';

const MAX_PAGE = 1000;

const resource = z
  .object({ id: z.number().int().openapi({ example: 42 }), status: z.string().openapi({ example: 'ready' }) })
  .passthrough()
  .openapi('Resource');
const params = z.object({ id: numericId('Resource id') });

const list = createRoute({
  method: 'get',
  path: '/v1/resources',
  tags: ['resources'],
  summary: 'Resources, newest first, a page at a time',
  security: [{ bearer: [] }],
  request: {
    query: z.object({
      library: z.string().optional().openapi({ description: 'Only this library (id or name)' }),
      cursor: z.string().optional().openapi({ description: 'The `nextCursor` of the previous page' }),
      status: z.enum(['processing', 'ready', 'failed']).optional().openapi({
        description:
          'Only resources in this state (a filtered page looks at up to 5,000 resources: it may be short, even empty, with a `nextCursor`)',
      }),
      type: z.enum(['image', 'file']).optional().openapi({ description: 'Only images, or only other files (as `status`)' }),
      // Checked by the handler, which names the value it received.
      limit: z
        .string()
        .optional()
        .openapi({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 } as never),
    }),
  },
  responses: {
    200: {
      description: 'A page',
      content: {
        'application/json': {
          schema: z.object({
            resources: z.array(resource),
            nextCursor: z.string().nullable(),
            links: z.object({ next: z.string().nullable() }),
          }),
        },
      },
    },
    ...problems({ 400: 'Bad limit', 404: 'No such library' }),
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/resources/{id}',
  tags: ['resources'],
  summary: 'A resource, with its metadata',
  security: [{ bearer: [] }],
  request: { params },
  responses: {
    200: { description: 'The resource', content: { 'application/json': { schema: resource } } },
    ...problems({ 404: 'No such resource' }),
  },
});

const del = createRoute({
  method: 'delete',
  path: '/v1/resources/{id}',
  tags: ['resources'],
  summary: 'Delete a resource, its file and renditions',
  security: [{ bearer: [] }],
  request: { params },
  responses: { 204: { description: 'Deleted' }, ...problems({ 404: 'No such resource' }) },
});

export function resourcesRoutes(deps: AppDeps & { resources: ResourceService }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const limitRaw = q.limit ?? '100';
    if (!/^\d{1,5}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
      throw new InvalidRequestError(
        `Expected limit to be an integer from 1 to ${MAX_PAGE} but received ${JSON.stringify(limitRaw.slice(0, 20))}.`,
      );
    }
    // A scoped key without ?library= lists its own libraries: the one, or all filtered (a page may then hold fewer than limit).
    const allowed = allowedLibraries(c);
    const library = q.library
      ? (await deps.catalog.getLibrary(q.library)).id
      : allowed !== '*' && allowed.length === 1
        ? allowed[0]
        : undefined;
    const filter = { status: q.status, type: q.type };
    const page = await deps.catalog.listResources({ library, cursor: q.cursor, limit: Number(limitRaw), filter });
    if (library === undefined && allowed !== '*') page.items = page.items.filter((r) => allowed.includes(r.library));
    const next = page.nextCursor
      ? `/v1/resources?${new URLSearchParams({ ...(q.library ? { library: q.library } : {}), ...(q.status ? { status: q.status } : {}), ...(q.type ? { type: q.type } : {}), cursor: page.nextCursor, limit: limitRaw })}`
      : null;
    return c.json({ resources: page.items.map((r) => resourceView(r)), nextCursor: page.nextCursor, links: { next } }, 200);
  });

  app.openapi(get, async (c) => {
    const id = parseId(c.req.valid('param').id);
    const { record, metadata } = await deps.resources.getFull(id);
    return c.json(resourceView(record, metadata), 200);
  });

  app.openapi(del, async (c) => {
    const id = parseId(c.req.valid('param').id);
    await deps.resources.delete(id);
    return c.body(null, 204);
  });

  return app;
}

export function parseId(raw: string): number {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new NotFoundError('resource', raw.slice(0, 40));
  return Number(raw);
}
