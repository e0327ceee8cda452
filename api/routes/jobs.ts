import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { NotFoundError } from '../../shared/errors.js';
import { parseIngestJobId } from '../../shared/jobs/ingest.js';
import { parseReprocessJobId } from '../../shared/jobs/reprocess.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { problems } from '../schemas.js';
import { validationHook } from '../validation.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';

type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'unknown';

const params = z.object({ id: z.string().openapi({ description: "Job id, from an upload's `Location`", example: 'ingest-42-1' }) });
const job = z
  .object({
    id: z.string(),
    type: z.string().openapi({ enum: ['ingest', 'reprocess'] }),
    state: z.string().openapi({ enum: ['waiting', 'active', 'delayed', 'completed', 'failed', 'unknown'] }),
    resource: z.object({ id: z.number() }).passthrough(),
  })
  .passthrough()
  .openapi('Job');

const get = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  tags: ['jobs'],
  summary: 'The state of a job',
  security: [{ bearer: [] }],
  request: { params },
  responses: {
    200: { description: 'State', content: { 'application/json': { schema: job } } },
    ...problems({ 404: 'Unknown job' }),
  },
});

const wait = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/wait',
  tags: ['jobs'],
  summary: 'Wait for a job: 204 on completion',
  description: 'Waits up to `timeout` seconds (or `Prefer: wait=N`), capped at WAIT_MAX_SECONDS. A failed job answers its problem.',
  security: [{ bearer: [] }],
  request: {
    params,
    // Checked by the handler (api/wait.ts), which names the value it received.
    query: z.object({
      timeout: z
        .string()
        .optional()
        .openapi({ type: 'integer', minimum: 0, description: 'Seconds' } as never),
    }),
  },
  responses: {
    204: { description: 'Completed; `X-Resource-Id` names the resource' },
    202: { description: 'Still running at the timeout', content: { 'application/json': { schema: job } } },
    ...problems({ 400: 'Bad timeout', 404: 'Unknown job', 422: 'The job failed (or another failure status)' }),
  },
});

/**
 * Job status. Finished jobs are trimmed from Redis, but the job id names its resource
 * and file version, so the answer comes from the resource record when the job is gone.
 */
export function jobsRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  async function describe(jobId: string) {
    // A revert's job id names its resource and file version the same way (shared/jobs/reprocess.ts).
    const ref = parseIngestJobId(jobId) ?? parseReprocessJobId(jobId);
    if (!ref) throw new NotFoundError('job', jobId.slice(0, 80));
    const rec = await deps.catalog.getResource(ref.resourceId);
    if (!rec) return { ref, body: await describeGone(jobId, ref.resourceId) };
    if (rec.fileVersion < ref.fileVersion) throw new NotFoundError('job', jobId);
    const job = await deps.ingestQueue.getJob(jobId);
    let state: JobState;
    if (rec.fileVersion > ref.fileVersion) state = 'completed';
    else if (rec.status === 'ready') state = 'completed';
    else if (rec.status === 'failed') state = 'failed';
    else state = job ? ((await job.getState()) as JobState) : 'unknown';
    if (state === 'completed' && rec.status === 'failed' && rec.fileVersion === ref.fileVersion) state = 'failed';
    return {
      ref,
      rec,
      body: {
        id: jobId,
        type: parseReprocessJobId(jobId) ? 'reprocess' : 'ingest',
        state,
        progress: job?.progress ?? (state === 'completed' ? 100 : 0),
        attemptsMade: job?.attemptsMade ?? null,
        ...(state === 'failed' ? { error: rec.error } : {}),
        resource: { id: rec.id, status: rec.status, fileVersion: rec.fileVersion },
        createdAt: job ? new Date(job.timestamp).toISOString() : null,
        finishedAt: job?.finishedOn ? new Date(job.finishedOn).toISOString() : null,
        links: { self: `/v1/jobs/${jobId}`, wait: `/v1/jobs/${jobId}/wait`, resource: `/v1/resources/${rec.id}` },
      },
    };
  }

  /** The resource is gone: a duplicate the job removed (an outcome note says so), or deleted. */
  async function describeGone(jobId: string, resourceId: number) {
    const outcome = await deps.catalog.outcomes.get(jobId);
    if (!outcome) throw new NotFoundError('job', jobId);
    const links = { self: `/v1/jobs/${jobId}`, wait: `/v1/jobs/${jobId}/wait` };
    if (outcome.kind === 'reused') {
      return {
        id: jobId,
        type: 'ingest',
        state: 'completed' as JobState,
        progress: 100,
        resource: { id: outcome.resolvedTo, reused: true, uploadedAs: resourceId },
        links: { ...links, resource: `/v1/resources/${outcome.resolvedTo}` },
      };
    }
    return {
      id: jobId,
      type: 'ingest',
      state: 'failed' as JobState,
      error: outcome.message,
      code: 'duplicate',
      duplicateOf: outcome.matches,
      resource: { id: resourceId, removed: true },
      links,
    };
  }

  app.openapi(get, async (c) => c.json((await describe(c.req.valid('param').id)).body, 200));

  app.openapi(wait, async (c) => {
    const jobId = c.req.valid('param').id;
    const { ref } = await describe(jobId);
    const seconds = requestedWaitSeconds(c, deps.config.uploads.waitMaxSeconds, 'timeout') ?? deps.config.uploads.waitMaxSeconds;
    // Still running at the deadline: 202 with the state, as a poll would answer.
    return waitAndRespond(c, deps.waiter, [{ resourceId: ref.resourceId, fileVersion: ref.fileVersion, jobId }], seconds, async () =>
      c.json((await describe(jobId)).body, 202),
    );
  });

  return app;
}
