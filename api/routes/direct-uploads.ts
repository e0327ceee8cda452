import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { DirectUploadService } from '../../shared/services/direct-upload-service.js';
import { S3Presigner } from '../../shared/storage/s3-presigner.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { validationHook } from '../validation.js';
import { resourceView } from '../views/resource.js';
import { problem } from '../schemas.js';

/** How long presigned part URLs stay valid. */
const EXPIRY_SECONDS = 6 * 3600;

const start = createRoute({
  method: 'post',
  path: '/v1/libraries/{library}/direct-uploads',
  tags: ['uploads'],
  summary: 'Start a direct upload to S3 (large files): presigned part URLs',
  description:
    'PUT each part (exactly `partSize` bytes, the last one the rest) to its URL, keep the `ETag` each answers, then call `complete`. The bytes never cross the API; the worker verifies them against `sha256`. Needs STORAGE_DRIVER=s3.',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ library: z.string().min(1) }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({
              fileName: z.string().min(1).max(1000).openapi({ example: 'film.mov' }),
              size: z.number().int().positive().openapi({ example: 5_368_709_120 }),
              sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits'),
              contentType: z.string().max(200).optional(),
              fields: z
                .record(z.string(), z.union([z.string(), z.array(z.string())]))
                .optional()
                .openapi({ example: { title: 'Premiere', tags: ['video'] } }),
            })
            .strict(),
        },
      },
    },
  },
  responses: {
    201: {
      description: 'Started',
      content: {
        'application/json': {
          schema: z
            .object({
              id: z.string(),
              resourceId: z.number(),
              partSize: z.number(),
              parts: z.array(z.object({ partNumber: z.number(), url: z.string() })),
              expiresAt: z.string(),
              complete: z.string(),
            })
            .openapi('DirectUpload'),
        },
      },
    },
    400: { description: 'Bad request, or the store is not S3', content: problem },
    413: { description: 'Over the size limit', content: problem },
  },
});

const complete = createRoute({
  method: 'post',
  path: '/v1/direct-uploads/{id}/complete',
  tags: ['uploads'],
  summary: 'Complete a direct upload: the resource is created and its ingest job queued',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ id: z.string().regex(/^du-\d+-[0-9a-f]+$/, 'expected an id from the start call') }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({ parts: z.array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1) })).min(1) })
            .strict(),
        },
      },
    },
  },
  responses: {
    202: {
      description: 'Accepted, like an upload: `Location` of the job',
      content: { 'application/json': { schema: z.object({ resources: z.array(z.object({}).passthrough()) }) } },
    },
    400: { description: 'S3 refused the part list, or the size differs', content: problem },
    404: { description: 'Unknown or expired upload', content: problem },
  },
});

const cancel = createRoute({
  method: 'delete',
  path: '/v1/direct-uploads/{id}',
  tags: ['uploads'],
  summary: 'Cancel a direct upload: its multipart upload is aborted and the parts sent so far are dropped',
  security: [{ bearer: [] }],
  request: { params: z.object({ id: z.string().regex(/^du-\d+-[0-9a-f]+$/, 'expected an id from the start call') }) },
  responses: {
    204: { description: 'Aborted' },
    404: { description: 'Unknown, completed, cancelled or expired upload', content: problem },
    503: { description: 'The store did not answer; the upload is still pending, cancel again later', content: problem },
  },
});

export function directUploadsRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const { config } = deps;
  const service = new DirectUploadService({
    uploads: deps.uploads,
    redis: deps.redis,
    redisPrefix: config.redis.prefix,
    presigner: config.storage.driver === 's3' ? new S3Presigner(config.storage) : undefined,
    logger: deps.logger,
    partSize: config.storage.driver === 's3' ? config.storage.partSize : 5 * 1048576,
    expirySeconds: EXPIRY_SECONDS,
  });

  app.openapi(start, async (c) => {
    const library = await deps.catalog.getLibrary(c.req.valid('param').library);
    const body = c.req.valid('json');
    const ticket = await service.start(library, {
      fileName: body.fileName,
      size: body.size,
      sha256: body.sha256,
      ...(body.contentType ? { contentType: body.contentType } : {}),
      ...(body.fields ? { fields: body.fields } : {}),
    });
    return c.json({ ...ticket, complete: `/v1/direct-uploads/${ticket.id}/complete` }, 201);
  });

  app.openapi(complete, async (c) => {
    const records = await service.complete(c.req.valid('param').id, c.req.valid('json').parts);
    c.header('X-Resource-Id', records.map((r) => r.id).join(','));
    c.header('Location', `/v1/jobs/${records[0]!.jobId}`);
    return c.json({ resources: records.map((r) => resourceView(r)) }, 202);
  });

  app.openapi(cancel, async (c) => {
    await service.cancel(c.req.valid('param').id);
    return c.body(null, 204);
  });

  return app;
}
