import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import { normaliseLibraryPresets } from '../../shared/renditions/presets.js';
import { writeLibraryCopy } from '../../shared/services/library-copy.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { jsonBodyFirst, parsedJsonBody } from '../json-body.js';
import { checkedByHandler, problems, jsonBody } from '../schemas.js';
import { validationHook } from '../validation.js';
import { libraryView } from '../views/resource.js';
import { mayUse } from '../middleware/scope.js';
import { parseLibrarySource } from '../../shared/external/source.js';
import { ExternalService } from '../../shared/external/scan-service.js';

/**
 * Libraries. Declared with schemas (they make the OpenAPI document and validate); the
 * members of a new library are checked by the catalog, whose messages the schema keeps.
 */
const library = z
  .object({
    id: z.number().int().openapi({ example: 2 }),
    name: z.string().openapi({ example: 'photos' }),
    dedupe: z.string().openapi({ example: 'reject' }),
    presets: z.array(z.unknown()),
    maxUploadBytes: z.number().nullable(),
  })
  .passthrough()
  .openapi('Library');

const newLibrary = z
  .object({
    name: checkedByHandler({
      type: 'string',
      description: '1-64 characters: a letter, then letters, digits, ".", "_" or "-"',
      example: 'photos',
    }),
    dedupe: checkedByHandler({
      type: 'string',
      enum: ['reject', 'reuse', 'allow'],
      description: 'What an upload of a file already in the library does (default reject)',
    }),
    presets: checkedByHandler({
      type: 'array',
      items: { oneOf: [{ type: 'string' }, { type: 'object' }] },
      description: 'Rendition preset names, or preset objects',
    }),
    maxUploadBytes: checkedByHandler({ type: ['integer', 'null'], description: "This library's upload size limit (null: the service's)" }),
    source: checkedByHandler({
      type: 'object',
      description:
        'An external library: files read in place from {"type":"fs","path"} (a folder under EXTERNAL_ROOTS) or {"type":"s3","bucket","prefix","credentials"?} (docs/external-libraries.md); credentials are never shown',
      example: { type: 'fs', path: '/mnt/photos' },
    }),
  })
  .passthrough()
  // Required, but checked by the catalog (its message names the rules), not by the schema.
  .openapi({ required: ['name'] });

async function readNewLibrary(c: Context): Promise<unknown> {
  const type = c.req.header('content-type');
  if (!type || !/^application\/(.+\+)?json\b/i.test(type)) throw new UnsupportedMediaTypeError('application/json', type);
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new InvalidRequestError('Expected a JSON object such as {"name":"photos"} but the body is not valid JSON.');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidRequestError('Expected a JSON object such as {"name":"photos"}.');
  }
  return body;
}

const create = createRoute({
  method: 'post',
  path: '/v1/libraries',
  tags: ['libraries'],
  summary: 'Create a library',
  security: [{ bearer: [] }],
  middleware: jsonBodyFirst(readNewLibrary),
  request: { body: jsonBody(newLibrary) },
  responses: {
    201: { description: 'Created; `Location` of the library', content: { 'application/json': { schema: library } } },
    ...problems({ 400: 'Not a JSON object, or a bad member', 409: 'A library of that name exists', 415: 'Not application/json' }),
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/libraries',
  tags: ['libraries'],
  summary: 'All libraries',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'The libraries', content: { 'application/json': { schema: z.object({ libraries: z.array(library) }) } } },
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/libraries/{library}',
  tags: ['libraries'],
  summary: 'A library, with its resource count',
  security: [{ bearer: [] }],
  request: { params: z.object({ library: z.string().min(1).openapi({ description: 'Library id or name', example: 'photos' }) }) },
  responses: {
    200: {
      description: 'The library',
      content: { 'application/json': { schema: library.and(z.object({ resourceCount: z.number().int() })) } },
    },
    ...problems({ 404: 'No such library' }),
  },
});

export function librariesRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const external = new ExternalService(deps);

  app.openapi(create, async (c) => {
    const input = parsedJsonBody(c) as Parameters<typeof deps.catalog.createLibrary>[0];
    const presets = normaliseLibraryPresets(input.presets, deps.config.images.presets, deps.config.images.maxDimension);
    if (presets.problems.length) throw new InvalidRequestError(presets.problems.join(' '), { problems: presets.problems });
    const source = input.source === undefined ? undefined : await parseLibrarySource(input.source, deps.config);
    const lib = await deps.catalog.createLibrary({ ...input, presets: presets.presets, ...(source ? { source } : { source: undefined }) });
    // Its poller (a repeatable job the workers run): fs folders are scanned again every EXTERNAL_POLL_SECONDS.
    if (lib.source) await external.schedulePolling(lib);
    // Kept in storage too, so `reindex` can restore it if Redis is lost.
    await writeLibraryCopy(deps.store, lib);
    c.header('Location', `/v1/libraries/${lib.id}`);
    return c.json(libraryView(lib), 201);
  });

  // A scoped key lists its own libraries only.
  app.openapi(list, async (c) =>
    c.json({ libraries: (await deps.catalog.listLibraries()).filter((l) => mayUse(c, l.id)).map(libraryView) }, 200),
  );

  app.openapi(get, async (c) => {
    const lib = await deps.catalog.getLibrary(c.req.valid('param').library);
    return c.json({ ...libraryView(lib), resourceCount: await deps.catalog.countResources(lib.id) }, 200);
  });

  return app;
}
