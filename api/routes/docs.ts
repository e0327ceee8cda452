import { swaggerUI } from '@hono/swagger-ui';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import type { AppEnv } from '../deps.js';

/**
 * `GET /openapi.json` — the OpenAPI 3.1 document generated from the schemas of the
 * routes declared with them (`documented`), which also validate those routes' requests
 * — and `GET /docs`, Swagger UI over it. No key: the document holds no data. The UI's
 * scripts come from a CDN (jsDelivr); without internet access the JSON is still served.
 *
 * Routes declared before schemas existed are listed too (registered by hand below, so
 * clients see them), marked "x-validated-by-schema: false": their handlers validate.
 */
export function docsRoutes(documented: OpenAPIHono<AppEnv>, version: string) {
  const registry = documented.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS' });
  for (const route of HAND_DOCUMENTED) registry.registerPath({ ...route, 'x-validated-by-schema': false } as never);

  const app = new Hono<AppEnv>();
  let document: unknown;
  app.get('/openapi.json', (c) => {
    document ??= documented.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'media-ingest',
        version,
        description: 'Media-library ingestion: streaming uploads into object storage, workers for metadata, de-duplication and renditions. Errors are RFC 9457 problem+json.',
      },
    });
    return c.json(document);
  });
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'media-ingest API' }));
  return app;
}

const problem = { 'application/problem+json': { schema: z.object({ type: z.string(), status: z.number(), detail: z.string(), code: z.string() }).passthrough() } };
const accepted = z.object({ resources: z.array(z.object({ id: z.number(), jobId: z.string(), status: z.string() }).passthrough()) });

/** The main flow, documented by hand until its routes are declared with schemas. */
const HAND_DOCUMENTED = [
  createRoute({
    method: 'post',
    path: '/v1/libraries/{library}/files',
    tags: ['uploads'],
    summary: 'Upload one or more files (multipart, streamed)',
    security: [{ bearer: [] }],
    request: {
      params: z.object({ library: z.string() }),
      query: z.object({ wait: z.coerce.number().int().min(0).optional(), webhook: z.string().optional() }),
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              file: z.any().openapi({ type: 'string', format: 'binary' }),
              title: z.string().optional(),
              tags: z.array(z.string()).optional(),
              visibility: z.enum(['private', 'public']).optional(),
              no_exif: z.enum(['0', '1']).optional(),
              sha256: z.string().optional(),
            }),
          },
        },
      },
    },
    responses: {
      202: { description: 'Accepted; `Location` of the job, `X-Resource-Id`', content: { 'application/json': { schema: accepted } } },
      204: { description: 'Processed within `?wait`' },
      400: { description: 'Malformed body, no file part, bad field, rejected duplicate', content: problem },
      413: { description: 'Over the size limit', content: problem },
      415: { description: 'Not multipart/form-data', content: problem },
      429: { description: 'Rate limit; see Retry-After', content: problem },
    },
  }),
  createRoute({
    method: 'put',
    path: '/v1/resources/{id}/file',
    tags: ['uploads'],
    summary: 'Replace the file of a resource (multipart, streamed): a new file version, re-processed',
    security: [{ bearer: [] }],
    request: {
      params: z.object({ id: z.string().openapi({ pattern: '^[0-9]+$' }) }),
      query: z.object({ wait: z.coerce.number().int().min(0).optional(), webhook: z.string().optional() }),
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              file: z.any().openapi({ type: 'string', format: 'binary' }),
              no_exif: z.enum(['0', '1']).optional(),
              sha256: z.string().optional(),
            }),
          },
        },
      },
    },
    responses: {
      202: { description: 'Accepted; `Location` of the job, `X-Resource-Id`', content: { 'application/json': { schema: accepted } } },
      204: { description: 'Processed within `?wait`' },
      400: { description: 'Malformed body, no file part, bad field', content: problem },
      404: { description: 'No such resource', content: problem },
      413: { description: 'Over the size limit', content: problem },
      415: { description: 'Not multipart/form-data', content: problem },
    },
  }),
  ...(['pause', 'resume'] as const).map((action) =>
    createRoute({
      method: 'post',
      path: `/v1/batches/{id}/${action}`,
      tags: ['reprocess'],
      summary: `${action === 'pause' ? 'Pause' : 'Resume'} a batch`,
      security: [{ bearer: [] }],
      request: { params: z.object({ id: z.string().openapi({ pattern: '^[0-9]+$' }) }) },
      responses: { 200: { description: 'The batch', content: { 'application/json': { schema: z.object({ id: z.number(), state: z.string() }).passthrough() } } }, 404: { description: 'No such batch', content: problem } },
    }),
  ),
  createRoute({ method: 'get', path: '/healthz', tags: ['operations'], summary: 'Liveness', responses: { 200: { description: 'The process answers' } } }),
  createRoute({ method: 'get', path: '/readyz', tags: ['operations'], summary: 'Readiness', responses: { 200: { description: 'Redis and storage answer' }, 503: { description: 'Not ready' } } }),
  createRoute({ method: 'get', path: '/metrics', tags: ['operations'], summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format' } } }),
];
