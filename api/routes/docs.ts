import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { NotFoundError } from '../../shared/errors.js';
import type { AppEnv } from '../deps.js';
import { pageSecurity } from '../middleware/page-security.js';
import { problem } from '../schemas.js';

/**
 * `GET /openapi.json` — the OpenAPI 3.1 document generated from the schemas of the
 * routes declared with them (`documented`), which also validate those routes' requests
 * — and `GET /docs`, Swagger UI over it. No key: the document holds no data. The UI's
 * script and stylesheet are served from the swagger-ui-dist package (no CDN: the page
 * works offline), under the same Content-Security-Policy as the console.
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
        description:
          'Media-library ingestion: streaming uploads into object storage, workers for metadata, de-duplication and renditions. Errors are RFC 9457 problem+json.',
      },
    });
    return c.json(document);
  });
  app.use('/docs', pageSecurity());
  app.use('/docs/*', pageSecurity());
  app.get('/docs', (c) => c.html(SWAGGER_PAGE));
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (file === 'init.js')
      return c.body(SWAGGER_INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
    const type = SWAGGER_ASSETS[file];
    if (!type) throw new NotFoundError('docs asset', file.slice(0, 80));
    const body = await fs.readFile(path.join(swaggerDir, file));
    return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
  });
  return app;
}

const swaggerDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const SWAGGER_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};
/** Started from a file, not an inline script: the CSP allows scripts of this origin only. */
const SWAGGER_INIT = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });\n";
const SWAGGER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>media-ingest API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;

const accepted = z.object({ resources: z.array(z.object({ id: z.number(), jobId: z.string(), status: z.string() }).passthrough()) });

/** What both streamed multipart routes take and answer; each adds its own params, fields and answers. */
function multipartUpload(route: {
  method: 'post' | 'put';
  path: string;
  summary: string;
  params: z.ZodObject;
  fields: Record<string, z.ZodType>;
  responses: Record<number, { description: string; content?: typeof problem }>;
}) {
  return createRoute({
    method: route.method,
    path: route.path,
    tags: ['uploads'],
    summary: route.summary,
    security: [{ bearer: [] }],
    request: {
      params: route.params,
      query: z.object({ wait: z.coerce.number().int().min(0).optional(), webhook: z.string().optional() }),
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              file: z.any().openapi({ type: 'string', format: 'binary' }),
              ...route.fields,
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
      413: { description: 'Over the size limit', content: problem },
      415: { description: 'Not multipart/form-data', content: problem },
      ...route.responses,
    },
  });
}

/** The main flow, documented by hand until its routes are declared with schemas. */
const HAND_DOCUMENTED = [
  multipartUpload({
    method: 'post',
    path: '/v1/libraries/{library}/files',
    summary: 'Upload one or more files (multipart, streamed)',
    params: z.object({ library: z.string() }),
    fields: {
      title: z.string().optional(),
      tags: z.array(z.string()).optional(),
      visibility: z.enum(['private', 'public']).optional(),
    },
    responses: {
      400: { description: 'Malformed body, no file part, bad field, rejected duplicate', content: problem },
      429: { description: 'Rate limit; see Retry-After', content: problem },
    },
  }),
  multipartUpload({
    method: 'put',
    path: '/v1/resources/{id}/file',
    summary: 'Replace the file of a resource (multipart, streamed): a new file version, re-processed',
    params: z.object({ id: z.string().openapi({ pattern: '^[0-9]+$' }) }),
    fields: {},
    responses: {
      400: { description: 'Malformed body, no file part, bad field', content: problem },
      404: { description: 'No such resource', content: problem },
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
      responses: {
        200: {
          description: 'The batch',
          content: { 'application/json': { schema: z.object({ id: z.number(), state: z.string() }).passthrough() } },
        },
        404: { description: 'No such batch', content: problem },
      },
    }),
  ),
  createRoute({
    method: 'post',
    path: '/v1/libraries/{library}/events',
    tags: ['libraries'],
    summary: "An s3 source's bucket notification (MinIO webhook target, Ceph RGW topic with an HTTP push endpoint)",
    description:
      'Authenticated with EXTERNAL_EVENTS_TOKEN (`Authorization: Bearer <token>` or `?token=`), not an API key; off without it. The body is the S3 event JSON (`{"Records":[…]}`); each key named is looked up in the bucket by a worker job (docs/external-libraries.md).',
    request: { params: z.object({ library: z.string() }), query: z.object({ token: z.string().optional() }) },
    responses: {
      200: {
        description: 'How many keys of the source were named',
        content: { 'application/json': { schema: z.object({ accepted: z.number().int() }) } },
      },
      400: { description: 'Not the S3 event JSON, or the library has no s3 source', content: problem },
      401: { description: 'No or a wrong token', content: problem },
      404: { description: 'No such library, or EXTERNAL_EVENTS_TOKEN is not set', content: problem },
      429: {
        description:
          'Too many failed authentications from this address (AUTH_FAILURES_PER_MINUTE), or the token used up RATE_LIMIT_PER_MINUTE; Retry-After says when to try again',
        content: problem,
      },
    },
  }),
  ...(['get', 'head'] as const).map((method) =>
    createRoute({
      method,
      path: '/image/{size}/{file}',
      tags: ['images'],
      summary:
        method === 'get'
          ? 'An image: a rendition (WxH, 0 in one dimension keeps the aspect ratio) or the original (0x0)'
          : 'The same headers as GET, no body',
      description:
        'Public resources need no key; private ones a Bearer key or a signed URL (`exp`, `sig`; see /v1/image-url). ' +
        'ETag / If-None-Match, Cache-Control; originals (0x0) answer Range requests. A size that is not a preset or configured size is refused (400) unless the URL is signed.',
      security: [{}, { bearer: [] }],
      request: {
        params: z.object({
          size: z.string().openapi({ pattern: '^[0-9]{1,5}x[0-9]{1,5}$', example: '480x480' }),
          file: z.string().openapi({ pattern: '^(_media-)?[0-9]{1,15}\\.[A-Za-z0-9]{1,10}$', example: '7.webp' }),
        }),
        query: z.object({ exp: z.string().optional(), sig: z.string().optional() }),
        headers: z.object({ 'if-none-match': z.string().optional(), range: z.string().optional() }),
      },
      responses: {
        200: { description: 'The image (or the original file, as a download unless it is a raster image)' },
        206: { description: 'Part of an original (Range)' },
        304: { description: 'Not modified (If-None-Match)' },
        400: { description: 'Size not allowed, or a bad signature parameter', content: problem },
        401: { description: 'Private resource without a key, or a signature that does not match or expired', content: problem },
        404: { description: "No such resource, not an image, no file yet, or another extension than the original's", content: problem },
        416: { description: 'Range not satisfiable' },
        422: { description: 'The file cannot be decoded', content: problem },
        503: { description: 'The rendition is still being rendered; see Retry-After', content: problem },
      },
    }),
  ),
  createRoute({
    method: 'get',
    path: '/v1/image-url',
    tags: ['images'],
    summary: 'A signed, expiring /image URL for pages to embed (private resources too), so the key never reaches a browser',
    security: [{ bearer: [] }],
    request: {
      query: z.object({
        path: z.string().openapi({ example: '/image/300x0/7.webp' }),
        ttl: z.string().optional().openapi({ description: 'Seconds, 1 to the maximum; default 3600' }),
      }),
    },
    responses: {
      200: {
        description: 'The URL and when it expires',
        content: { 'application/json': { schema: z.object({ url: z.string(), expires: z.string() }) } },
      },
      400: { description: 'Bad path or ttl, a size over IMAGE_MAX_DIMENSION, or IMAGE_URL_SECRET unset', content: problem },
      404: { description: 'No such resource', content: problem },
    },
  }),
  ...tusRoutesDocumented(),
  createRoute({
    method: 'get',
    path: '/healthz',
    tags: ['operations'],
    summary: 'Liveness',
    responses: { 200: { description: 'The process answers' } },
  }),
  createRoute({
    method: 'get',
    path: '/readyz',
    tags: ['operations'],
    summary: 'Readiness',
    responses: { 200: { description: 'Redis and storage answer' }, 503: { description: 'Not ready' } },
  }),
  createRoute({
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format' } },
  }),
];

/** The tus routes (api/routes/tus.ts): the protocol's headers, and what a finished upload tells. */
function tusRoutesDocumented() {
  const tags = ['uploads'];
  const security = [{ bearer: [] }];
  const tusResumable = z.literal('1.0.0').openapi({ description: 'The protocol version; any other value (or none) answers 412' });
  const library = z.object({ library: z.string() });
  const upload = z.object({ library: z.string(), id: z.string().openapi({ pattern: '^[A-Za-z0-9_-]{22}$' }) });
  const outcome =
    'A finished upload also carries `X-Resource-Id`, `Link: </v1/jobs/{jobId}>; rel="job", </v1/resources/{id}>; rel="resource"` and ' +
    '`X-Resource-Status` (processing, ready, failed); a failure adds `X-Resource-Error-Code` and `X-Resource-Error` (percent-encoded).';
  const common = {
    400: { description: 'A malformed header (Upload-Offset, Upload-Length, Upload-Metadata, Upload-Checksum)', content: problem },
    404: { description: 'No such upload (or library), or one that was terminated', content: problem },
    410: { description: 'The upload expired (TUS_EXPIRY_SECONDS) and its bytes were removed', content: problem },
    412: { description: 'Tus-Resumable is not 1.0.0 (Tus-Version names what is)', content: problem },
  };
  return [
    createRoute({
      method: 'options',
      path: '/v1/libraries/{library}/tus',
      tags,
      summary: 'tus: what this server offers',
      security,
      request: { params: library },
      responses: {
        204: {
          description:
            "Tus-Version, Tus-Extension (creation, creation-with-upload, termination, expiration, checksum), Tus-Checksum-Algorithm (sha256), Tus-Max-Size (the library's or the global upload limit)",
        },
      },
    }),
    createRoute({
      method: 'post',
      path: '/v1/libraries/{library}/tus',
      tags,
      summary: 'tus: create a resumable upload (creation, creation-with-upload)',
      description:
        'Upload-Metadata keys `filename`, `filetype`, `title`, `tags` (comma-separated), `no_exif` are used, others ignored. ' +
        'With `Content-Type: application/offset+octet-stream` the body is the first bytes. The upload URL (`Location`) works on every API replica.',
      security,
      request: {
        params: library,
        headers: z.object({
          'tus-resumable': tusResumable,
          'upload-length': z
            .string()
            .openapi({ pattern: '^[0-9]+$', description: 'The file size in bytes (Upload-Defer-Length is not supported)' }),
          'upload-metadata': z.string().optional(),
        }),
        body: {
          required: false,
          content: { 'application/offset+octet-stream': { schema: z.any().openapi({ type: 'string', format: 'binary' }) } },
        },
      },
      responses: {
        201: { description: `Created: Location, Upload-Expires, Upload-Offset. ${outcome}` },
        413: { description: 'Upload-Length over Tus-Max-Size; nothing is kept', content: problem },
        ...common,
      },
    }),
    ...(['get', 'head'] as const).map((method) =>
      createRoute({
        method,
        path: '/v1/libraries/{library}/tus/{id}',
        tags,
        summary: method === 'head' ? 'tus: where an upload stands, and once finished what became of it' : 'The same headers as HEAD',
        security,
        request: { params: upload, headers: z.object({ 'tus-resumable': tusResumable }) },
        responses: {
          200: {
            description: `Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires (unfinished), Cache-Control: no-store. ${outcome}`,
          },
          ...common,
        },
      }),
    ),
    createRoute({
      method: 'patch',
      path: '/v1/libraries/{library}/tus/{id}',
      tags,
      summary: 'tus: send bytes from Upload-Offset on',
      description:
        'On any replica. `Upload-Checksum: sha256 <base64>` keeps the bytes only when they match (else 460). The last byte makes the upload a resource ' +
        '(the same record, de-duplication and ingest job as a multipart upload); `?wait=N` or `Prefer: wait=N` on that PATCH waits for processing: ' +
        "204 once processed, the failure's status and reason (problem+json) when it failed.",
      security,
      request: {
        params: upload,
        query: z.object({ wait: z.coerce.number().int().min(0).optional() }),
        headers: z.object({
          'tus-resumable': tusResumable,
          'upload-offset': z.string().openapi({ pattern: '^[0-9]+$' }),
          'upload-checksum': z.string().optional(),
          prefer: z.string().optional(),
        }),
        body: {
          required: true,
          content: { 'application/offset+octet-stream': { schema: z.any().openapi({ type: 'string', format: 'binary' }) } },
        },
      },
      responses: {
        204: { description: `Stored: Upload-Offset, Upload-Expires. ${outcome}` },
        409: { description: "Upload-Offset is not the upload's offset (HEAD tells it)", content: problem },
        413: { description: 'More bytes than Upload-Length; the upload is discarded', content: problem },
        415: { description: 'Content-Type is not application/offset+octet-stream', content: problem },
        422: { description: 'With wait: the file could not be processed (the reason in detail)', content: problem },
        423: { description: 'Another request is writing this upload; retry', content: problem },
        460: { description: 'The bytes do not match Upload-Checksum; nothing of them was kept', content: problem },
        ...common,
      },
    }),
    createRoute({
      method: 'delete',
      path: '/v1/libraries/{library}/tus/{id}',
      tags,
      summary: 'tus: terminate an unfinished upload; its bytes are removed',
      security,
      request: { params: upload, headers: z.object({ 'tus-resumable': tusResumable }) },
      responses: {
        204: { description: 'Terminated' },
        409: { description: 'The upload is finished: delete the resource instead', content: problem },
        423: { description: 'Another request is writing this upload', content: problem },
        ...common,
      },
    }),
  ];
}
