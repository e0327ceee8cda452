import { Hono } from 'hono';
import { NotFoundError } from '../../shared/errors.js';
import { parseBulkRevertRequest, parseRevertRequest, ReprocessService } from '../../shared/services/reprocess-service.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { readJsonBody } from '../json-body.js';
import { batchView } from '../views/batch.js';
import { resourceView } from '../views/resource.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';
import { parseId } from './resources.js';

const MAX_BODY = 16 * 1024;

/**
 * Revert: `POST /v1/resources/{id}/reprocess` for one resource (202 with the job, or
 * 204 with `?wait=N` once done), `POST /v1/reprocess` for a library or everything (202
 * with the batch), and the batch's progress, pause, resume and cancel.
 */
export function reprocessRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const service = new ReprocessService({ catalog: deps.catalog, ingestQueue: deps.ingestQueue, bulkQueue: deps.bulkQueue, jobAttempts: deps.config.jobAttempts });

  app.post('/v1/resources/:id/reprocess', async (c) => {
    const id = parseId(c.req.param('id'));
    const req = parseRevertRequest(await readJsonBody(c, MAX_BODY));
    const wait = requestedWaitSeconds(c, deps.config.waitMaxSeconds);
    const { record, jobId } = await service.revertOne(id, req);
    c.header('Location', `/v1/jobs/${jobId}`);
    const accepted = () =>
      c.json({ jobId, reread: req.reread, renditions: req.renditions, resource: resourceView(record), links: { job: `/v1/jobs/${jobId}`, wait: `/v1/jobs/${jobId}/wait` } }, 202);
    if (wait === undefined) return accepted();
    return waitAndRespond(c, deps.waiter, [{ resourceId: id, fileVersion: record.fileVersion, jobId }], wait, accepted);
  });

  app.post('/v1/reprocess', async (c) => {
    const req = parseBulkRevertRequest(await readJsonBody(c, MAX_BODY));
    const batch = await service.revertMany(req);
    c.header('Location', `/v1/batches/${batch.id}`);
    return c.json(batchView(batch), 202);
  });

  app.get('/v1/batches/:id', async (c) => c.json(batchView(await deps.catalog.batches.require(batchId(c.req.param('id'))))));
  app.delete('/v1/batches/:id', async (c) => c.json(batchView(await service.cancel(batchId(c.req.param('id'))))));
  app.post('/v1/batches/:id/pause', async (c) => c.json(batchView(await service.pause(batchId(c.req.param('id'))))));
  app.post('/v1/batches/:id/resume', async (c) => c.json(batchView(await service.resume(batchId(c.req.param('id'))))));

  return app;
}

function batchId(raw: string): number {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new NotFoundError('batch', raw.slice(0, 40));
  return Number(raw);
}
