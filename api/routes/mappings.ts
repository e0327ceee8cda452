import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { MappingsVersion } from '../../shared/catalog/mappings.js';
import { InvalidRequestError } from '../../shared/errors.js';
import { parseMappingsDocument } from '../../shared/metadata/field-mappings.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { jsonBodyFirst, parsedJsonBody, readJsonBody } from '../json-body.js';
import { checkedByHandler, problems, requiredCheckedByHandler, jsonBody } from '../schemas.js';
import { validationHook } from '../validation.js';

/** A mappings document is a few KiB; this is room for a hundred fields of fifty tags. */
const MAX_BODY = 256 * 1024;

const tagsDoc = { type: 'array', items: { type: 'string', example: 'EXIF:Artist' }, minItems: 1, maxItems: 50 };
const fieldsDoc = {
  type: 'object',
  additionalProperties: {
    oneOf: [tagsDoc, { type: 'object', properties: { tags: tagsDoc, type: { type: 'string' } }, required: ['tags'] }],
  },
  description:
    'Each field: the metadata tags ("Group:Tag" as exiftool -G prints them) it is read from, first found wins, or {"tags", "type"}',
  example: { creator: ['XMP:Creator', 'EXIF:Artist'], shotAt: { tags: ['EXIF:DateTimeOriginal'], type: 'date' } },
};

const mappings = z
  .object({
    version: z.number().int(),
    updated: z.string().nullable(),
    fields: z.record(z.string(), z.object({ tags: z.array(z.string()), type: z.string() })),
    links: z.object({ self: z.string(), reprocess: z.string() }),
  })
  .passthrough()
  .openapi('Mappings');

const get = createRoute({
  method: 'get',
  path: '/v1/mappings',
  tags: ['metadata'],
  summary: 'The current field mappings and their version',
  security: [{ bearer: [] }],
  responses: { 200: { description: 'The mappings', content: { 'application/json': { schema: mappings } } } },
});

/** The document is checked by parseMappingsDocument, whose messages name each bad field. */
const put = createRoute({
  method: 'put',
  path: '/v1/mappings',
  tags: ['metadata'],
  summary: 'Replace the field mappings (a change bumps the version)',
  description: 'Send `"version": N` to refuse the PUT with a 409 if someone changed the mappings since you read version N.',
  security: [{ bearer: [] }],
  middleware: jsonBodyFirst(readMappings),
  request: {
    body: jsonBody(
      z
        .object({
          fields: requiredCheckedByHandler(fieldsDoc),
          version: checkedByHandler({ type: 'integer', minimum: 1, description: 'The version GET answered (optional)' }),
        })
        .passthrough(),
    ),
  },
  responses: {
    200: {
      description: 'The mappings now; `changed` says whether this PUT changed them',
      content: { 'application/json': { schema: mappings.and(z.object({ changed: z.boolean() })) } },
    },
    ...problems({
      400: 'Not a mappings document',
      409: 'The mappings are past `version`',
      413: 'Over 256 KiB',
      415: 'Not application/json',
    }),
  },
});

async function readMappings(c: Context): Promise<unknown> {
  const body = await readJsonBody(c, MAX_BODY);
  if (body === undefined) throw new InvalidRequestError('Expected a JSON body {"fields": {"<field>": ["Group:Tag", …]}}.');
  parseMappingsDocument(body);
  const expected = (body as { version?: unknown }).version;
  if (expected !== undefined && (!Number.isSafeInteger(expected) || (expected as number) < 1)) {
    throw new InvalidRequestError(
      `Expected version to be the positive integer GET /v1/mappings answered but received ${JSON.stringify(expected)}.`,
    );
  }
  return body;
}

/**
 * Field mappings: `GET` the current version, `PUT` a whole new document. A change bumps
 * the version; resources processed with an older one are what `POST /v1/reprocess`
 * (stale only, the default) re-maps. Send `"version": N` to refuse the PUT if someone
 * changed the mappings since you read version N (409).
 */
export function mappingsRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(get, async (c) => c.json(view(await deps.catalog.mappings.get()), 200));

  app.openapi(put, async (c) => {
    const body = parsedJsonBody(c);
    const fields = parseMappingsDocument(body);
    const expected = (body as { version?: number }).version;
    const out = await deps.catalog.mappings.put(fields, expected);
    return c.json({ ...view(out), changed: out.changed }, 200);
  });

  return app;
}

function view(m: MappingsVersion) {
  return { version: m.version, updated: m.updated, fields: m.fields, links: { self: '/v1/mappings', reprocess: '/v1/reprocess' } };
}
