import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { NotFoundError } from '../../shared/errors.js';
import { parseBulkRevertRequest, parseRevertRequest, ReprocessService } from '../../shared/services/reprocess-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { jsonBodyFirst, parsedJsonBody, readJsonBody } from '../json-body.js';
import { checkedByHandler, numericId, problem } from '../schemas.js';
import { validationHook } from '../validation.js';
import { batchView } from '../views/batch.js';
import { resourceView } from '../views/resource.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';
import { parseId } from './resources.js';

const MAX_BODY = 16 * 1024;

/*
 * The bodies are checked by parseRevertRequest / parseBulkRevertRequest (in the route's
 * middleware, before the schema), whose messages name each bad member; the schemas
 * document them.
 */
const flags = {
  reread: checkedByHandler({
    type: 'boolean',
    default: false,
    description: 'Read the metadata from the file again (else re-map the stored tags)',
  }),
  renditions: checkedByHandler({ type: 'boolean', default: false, description: 'Render the renditions again' }),
};

const batch = z.object({ id: z.number().int(), state: z.string(), total: z.number(), percent: z.number() }).passthrough().openapi('Batch');
const batchParams = z.object({ id: numericId('Batch id') });

const revertOne = createRoute({
  method: 'post',
  path: '/v1/resources/{id}/reprocess',
  tags: ['reprocess'],
  summary: 'Revert one resource: re-map (or re-read) its metadata, optionally re-render',
  description: 'The body is optional. 202 with the job, or with `?wait=N` (or `Prefer: wait=N`) 204 once done.',
  security: [{ bearer: [] }],
  middleware: jsonBodyFirst(async (c) => {
    parseId(c.req.param('id') ?? '');
    const body = await readJsonBody(c, MAX_BODY);
    parseRevertRequest(body);
    return body;
  }),
  request: {
    params: z.object({ id: numericId('Resource id') }),
    // Checked by the handler (api/wait.ts), which names the value it received.
    query: z.object({
      wait: z
        .string()
        .optional()
        .openapi({ type: 'integer', minimum: 0, description: 'Seconds' } as never),
    }),
    body: { required: false, content: { 'application/json': { schema: z.object(flags).passthrough() } } },
  },
  responses: {
    202: {
      description: 'Queued; `Location` of the job',
      content: {
        'application/json': { schema: z.object({ jobId: z.string(), reread: z.boolean(), renditions: z.boolean() }).passthrough() },
      },
    },
    204: { description: 'Done within `wait`' },
    400: { description: 'A bad member', content: problem },
    404: { description: 'No such resource', content: problem },
  },
});

const revertMany = createRoute({
  method: 'post',
  path: '/v1/reprocess',
  tags: ['reprocess'],
  summary: 'Revert a library, or every library, as a batch',
  security: [{ bearer: [] }],
  middleware: jsonBodyFirst(async (c) => {
    const body = await readJsonBody(c, MAX_BODY);
    parseBulkRevertRequest(body);
    return body;
  }),
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({
              library: checkedByHandler({
                oneOf: [{ type: 'string' }, { type: 'integer' }],
                description: 'Library id or name (or `all`)',
                example: 'photos',
              }),
              all: checkedByHandler({ type: 'boolean', description: 'Every library (or `library`)' }),
              staleOnly: checkedByHandler({ type: 'boolean', default: true, description: 'Only resources processed with older mappings' }),
              ...flags,
            })
            .passthrough(),
        },
      },
    },
  },
  responses: {
    202: { description: 'The batch; `Location` of it', content: { 'application/json': { schema: batch } } },
    400: { description: 'A bad member, or neither/both of library and all', content: problem },
    404: { description: 'No such library', content: problem },
  },
});

const getBatch = createRoute({
  method: 'get',
  path: '/v1/batches/{id}',
  tags: ['reprocess'],
  summary: "A batch's progress",
  security: [{ bearer: [] }],
  request: { params: batchParams },
  responses: {
    200: { description: 'The batch', content: { 'application/json': { schema: batch } } },
    404: { description: 'No such batch', content: problem },
  },
});

const cancelBatch = createRoute({
  method: 'delete',
  path: '/v1/batches/{id}',
  tags: ['reprocess'],
  summary: 'Cancel a batch',
  security: [{ bearer: [] }],
  request: { params: batchParams },
  responses: {
    200: { description: 'The batch, cancelled', content: { 'application/json': { schema: batch } } },
    404: { description: 'No such batch', content: problem },
  },
});

/**
 * Revert: `POST /v1/resources/{id}/reprocess` for one resource (202 with the job, or
 * 204 with `?wait=N` once done), `POST /v1/reprocess` for a library or everything (202
 * with the batch), and the batch's progress, pause, resume and cancel.
 */
export function reprocessRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const service = new ReprocessService({
    catalog: deps.catalog,
    ingestQueue: deps.ingestQueue,
    bulkQueue: deps.bulkQueue,
    jobAttempts: deps.config.jobs.attempts,
    logger: deps.logger,
  });

  app.openapi(revertOne, async (c) => {
    const id = parseId(c.req.valid('param').id);
    const req = parseRevertRequest(parsedJsonBody(c));
    const wait = requestedWaitSeconds(c, deps.config.uploads.waitMaxSeconds);
    const { record, jobId } = await service.revertOne(id, req);
    c.header('Location', `/v1/jobs/${jobId}`);
    const accepted = () =>
      c.json(
        {
          jobId,
          reread: req.reread,
          renditions: req.renditions,
          resource: resourceView(record),
          links: { job: `/v1/jobs/${jobId}`, wait: `/v1/jobs/${jobId}/wait` },
        },
        202,
      );
    if (wait === undefined) return accepted();
    return waitAndRespond(c, deps.waiter, [{ resourceId: id, fileVersion: record.fileVersion, jobId }], wait, accepted);
  });

  app.openapi(revertMany, async (c) => {
    const req = parseBulkRevertRequest(parsedJsonBody(c));
    const batch = await service.revertMany(req);
    c.header('Location', `/v1/batches/${batch.id}`);
    return c.json(batchView(batch), 202);
  });

  app.openapi(getBatch, async (c) => c.json(batchView(await deps.catalog.batches.require(batchId(c.req.valid('param').id))), 200));
  app.openapi(cancelBatch, async (c) => c.json(batchView(await service.cancel(batchId(c.req.valid('param').id))), 200));
  // Not declared with schemas yet (no body; listed in the document by hand).
  app.post('/v1/batches/:id/pause', async (c) => c.json(batchView(await service.pause(batchId(c.req.param('id'))))));
  app.post('/v1/batches/:id/resume', async (c) => c.json(batchView(await service.resume(batchId(c.req.param('id'))))));

  return app;
}

function batchId(raw: string): number {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new NotFoundError('batch', raw.slice(0, 40));
  return Number(raw);
}
