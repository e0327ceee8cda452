import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { NotFoundError } from '../../shared/errors.js';
import { isLane, LANE_QUEUES, LANES, type Lane } from '../../shared/jobs/lanes.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import type { AppDeps, AppEnv } from '../deps.js';

const BOARD_PATH = '/admin/queues';

/**
 * Queue administration, behind ADMIN_KEYS:
 * - `/admin/queues` — bull-board, every queue of every lane: jobs by state, one job's
 *   data and error, retry, pause and resume per queue.
 * - `GET /admin/lanes` and `POST /admin/lanes/{lane}/pause | resume | retry-failed` — the
 *   same per lane (all its queues at once), for scripts and runbooks. Pausing is
 *   global (kept in Redis): every worker process stops taking that lane's jobs, and
 *   active ones finish.
 */
export function queuesAdminRoutes(deps: AppDeps, adminAuth: MiddlewareHandler) {
  const app = new Hono<AppEnv>();
  // Producers only (no blocking reads), so the catalog's connection serves them.
  const queues = new Map<Lane, Queue[]>(
    LANES.map((lane) => [lane, LANE_QUEUES[lane].map((q) => openQueue(q, deps.redis, deps.config.redis.prefix) as Queue)]),
  );

  // ADMIN_KEYS, cross-site posts refused, never framed (api/middleware/admin-auth.ts).
  app.use('/admin/*', adminAuth);

  // bull-board (~5 MiB of RSS) loads on the first visit to the board, not with every API process.
  let board: Promise<Hono> | undefined;
  const loadBoard = async (): Promise<Hono> => {
    const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }] = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/hono'),
    ]);
    const adapter = new HonoAdapter(serveStatic);
    createBullBoard({
      queues: [...queues.values()].flat().map((q) => new BullMQAdapter(q)),
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'media-ingest queues' } },
    });
    adapter.setBasePath(BOARD_PATH);
    return new Hono().route(BOARD_PATH, adapter.registerPlugin());
  };
  const serveBoard = async (c: Context<AppEnv>) => {
    board ??= loadBoard().catch((err: unknown) => {
      board = undefined;
      throw err;
    });
    return (await board).fetch(c.req.raw, c.env);
  };
  app.all(BOARD_PATH, serveBoard);
  app.all(`${BOARD_PATH}/*`, serveBoard);

  const laneQueues = (name: string): Queue[] => {
    if (!isLane(name)) throw new NotFoundError('lane', name);
    return queues.get(name)!;
  };
  const state = async (lane: Lane) => ({
    lane,
    queues: await Promise.all(
      queues.get(lane)!.map(async (q) => ({
        queue: q.name,
        paused: await q.isPaused(),
        counts: await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
      })),
    ),
  });

  app.get('/admin/lanes', async (c) => c.json({ lanes: await Promise.all(LANES.map(state)) }));
  app.post('/admin/lanes/:lane/pause', async (c) => {
    for (const q of laneQueues(c.req.param('lane'))) await q.pause();
    return c.json(await state(c.req.param('lane') as Lane));
  });
  app.post('/admin/lanes/:lane/resume', async (c) => {
    for (const q of laneQueues(c.req.param('lane'))) await q.resume();
    return c.json(await state(c.req.param('lane') as Lane));
  });
  app.post('/admin/lanes/:lane/retry-failed', async (c) => {
    let retried = 0;
    for (const q of laneQueues(c.req.param('lane'))) {
      retried += (await q.getJobCounts('failed')).failed ?? 0;
      // In pages of 1,000 inside BullMQ; `count` bounds each Lua call, not the total.
      await q.retryJobs({ state: 'failed', count: 1_000 });
    }
    return c.json({ retried, ...(await state(c.req.param('lane') as Lane)) });
  });

  return app;
}
