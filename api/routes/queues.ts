import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Queue } from 'bullmq';
import { LANE_QUEUES, LANES, type Lane } from '../../shared/jobs/lanes.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { validationHook } from '../validation.js';

/** Recent failures listed per queue; the answer merges and trims them to this many. */
const RECENT_FAILURES = 20;

const get = createRoute({
  method: 'get',
  path: '/v1/queues',
  tags: ['jobs'],
  summary: 'Depth of each lane and its most recent failures',
  description:
    "Read-only, for any API key (the web console's Queues page): jobs per state in each lane's queues, and the latest failed jobs with their reasons. Pausing and retrying a lane is for admin keys (`/admin/lanes`).",
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'Lanes and recent failures',
      content: {
        'application/json': {
          schema: z.object({
            lanes: z.array(
              z.object({
                lane: z.string(),
                queues: z.array(z.object({ queue: z.string(), paused: z.boolean(), counts: z.record(z.string(), z.number()) })),
              }),
            ),
            failures: z.array(
              z.object({
                queue: z.string(),
                jobId: z.string().nullable(),
                name: z.string(),
                reason: z.string(),
                failedAt: z.string().nullable(),
                attempts: z.number(),
                resourceId: z.number().nullable(),
              }),
            ),
          }),
        },
      },
    },
  },
});

/** `GET /v1/queues`: what the bull-board dashboard shows at a glance, without an admin key. */
export function queuesRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Producers only (no blocking reads), so the catalog's connection serves them. Made on
  // the first request: a BullMQ Queue starts talking to Redis when constructed.
  let made: Map<Lane, Queue[]> | undefined;
  const lanesQueues = () =>
    (made ??= new Map<Lane, Queue[]>(
      LANES.map((lane) => [lane, LANE_QUEUES[lane].map((q) => openQueue(q, deps.redis, deps.config.redis.prefix) as Queue)]),
    ));

  app.openapi(get, async (c) => {
    const queues = lanesQueues();
    const lanes = await Promise.all(
      LANES.map(async (lane) => ({
        lane,
        queues: await Promise.all(
          queues.get(lane)!.map(async (q) => ({
            queue: q.name,
            paused: await q.isPaused(),
            counts: await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
          })),
        ),
      })),
    );
    const failed = (
      await Promise.all(
        [...queues.values()]
          .flat()
          .map(async (q) => (await q.getFailed(0, RECENT_FAILURES - 1)).filter(Boolean).map((job) => ({ queue: q.name, job }))),
      )
    ).flat();
    const failures = failed
      .sort((a, b) => (b.job.finishedOn ?? 0) - (a.job.finishedOn ?? 0))
      .slice(0, RECENT_FAILURES)
      .map(({ queue, job }) => {
        const resourceId = (job.data as { resourceId?: unknown } | undefined)?.resourceId;
        return {
          queue,
          jobId: job.id ?? null,
          name: job.name,
          reason: job.failedReason ?? '',
          failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
          attempts: job.attemptsMade,
          resourceId: typeof resourceId === 'number' ? resourceId : null,
        };
      });
    return c.json({ lanes, failures }, 200);
  });

  return app;
}
