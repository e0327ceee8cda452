import { Hono } from 'hono';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import { normaliseLibraryPresets } from '../../shared/renditions/presets.js';
import { writeLibraryCopy } from '../../shared/services/library-copy.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { libraryView } from '../views/resource.js';

export function librariesRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post('/v1/libraries', async (c) => {
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
    const input = body as Parameters<typeof deps.catalog.createLibrary>[0];
    const presets = normaliseLibraryPresets(input.presets, deps.config.images.presets, deps.config.images.maxDimension);
    if (presets.problems.length) throw new InvalidRequestError(presets.problems.join(' '), { problems: presets.problems });
    const lib = await deps.catalog.createLibrary({ ...input, presets: presets.presets });
    // Kept in storage too, so `reindex` can restore it if Redis is lost.
    await writeLibraryCopy(deps.store, lib);
    c.header('Location', `/v1/libraries/${lib.id}`);
    return c.json(libraryView(lib), 201);
  });

  app.get('/v1/libraries', async (c) => c.json({ libraries: (await deps.catalog.listLibraries()).map(libraryView) }));

  app.get('/v1/libraries/:library', async (c) => {
    const lib = await deps.catalog.getLibrary(c.req.param('library'));
    return c.json({ ...libraryView(lib), resourceCount: await deps.catalog.countResources(lib.id) });
  });

  return app;
}
