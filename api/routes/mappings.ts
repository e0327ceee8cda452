import { Hono } from 'hono';
import type { MappingsVersion } from '../../shared/catalog/mappings.js';
import { InvalidRequestError } from '../../shared/errors.js';
import { parseMappingsDocument } from '../../shared/metadata/field-mappings.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { readJsonBody } from '../json-body.js';

/** A mappings document is a few KiB; this is room for a hundred fields of fifty tags. */
const MAX_BODY = 256 * 1024;

/**
 * Field mappings: `GET` the current version, `PUT` a whole new document. A change bumps
 * the version; resources processed with an older one are what `POST /v1/reprocess`
 * (stale only, the default) re-maps. Send `"version": N` to refuse the PUT if someone
 * changed the mappings since you read version N (409).
 */
export function mappingsRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.get('/v1/mappings', async (c) => c.json(view(await deps.catalog.mappings.get())));

  app.put('/v1/mappings', async (c) => {
    const body = await readJsonBody(c, MAX_BODY);
    if (body === undefined) throw new InvalidRequestError('Expected a JSON body {"fields": {"<field>": ["Group:Tag", …]}}.');
    const fields = parseMappingsDocument(body);
    const expected = (body as { version?: unknown }).version;
    if (expected !== undefined && (!Number.isSafeInteger(expected) || (expected as number) < 1)) {
      throw new InvalidRequestError(`Expected version to be the positive integer GET /v1/mappings answered but received ${JSON.stringify(expected)}.`);
    }
    const out = await deps.catalog.mappings.put(fields, expected as number | undefined);
    return c.json({ ...view(out), changed: out.changed });
  });

  return app;
}

function view(m: MappingsVersion) {
  return { version: m.version, updated: m.updated, fields: m.fields, links: { self: '/v1/mappings', reprocess: '/v1/reprocess' } };
}
