import type { RateLimiterOptions } from 'bullmq';
import { QUEUES, queuesOfLane, type QueueName } from './queue-table.js';

/**
 * Priority lanes: kinds of work that must not starve each other. Each lane is a set of
 * BullMQ queues, and every worker process serves each of its lanes with a BullMQ Worker
 * of its own, so each lane has slots of its own: a million queued bulk reverts cannot
 * delay a fresh upload or an on-demand render by even one job, and an upload storm
 * cannot stop a bulk revert either (which priorities on one queue would: BullMQ runs
 * the higher priority first, always, so low-priority work waits for an empty queue).
 *
 * - `ingest`: fresh uploads and file replacements, and reverts of one resource asked
 *   for through the API — somebody is waiting for each of them; and the completion
 *   webhooks that report their outcome (a queue of their own: a receiver that is down
 *   retries there without holding an ingest slot).
 * - `render`: on-demand renditions for `GET /image/…` — a request is held open.
 * - `bulk`: a bulk revert's fan-out steps and its per-resource jobs — nobody waits for
 *   one in particular; rate-limited (BULK_JOBS_PER_SECOND) across all workers.
 *
 * `WORKER_LANES` picks the lanes of a worker process, so dedicated pools can be run
 * (e.g. render-only workers close to the CDN, bulk-only workers at night).
 */
export type Lane = 'ingest' | 'render' | 'bulk';

export const LANES: readonly Lane[] = ['ingest', 'render', 'bulk'];

/** The bulk lane's queue (shared/jobs/reprocess.ts and reprocess-batch.ts name its jobs). */
export const BULK_QUEUE = QUEUES.bulk.name;

/** Each lane's queues, from the queue table (shared/jobs/queue-table.ts). */
export const LANE_QUEUES: Readonly<Record<Lane, readonly QueueName[]>> = {
  ingest: queuesOfLane('ingest'),
  render: queuesOfLane('render'),
  bulk: queuesOfLane('bulk'),
};

export function isLane(s: string): s is Lane {
  return (LANES as readonly string[]).includes(s);
}

/** The lane a queue belongs to. */
export function laneOf(queue: string): Lane | undefined {
  return LANES.find((l) => (LANE_QUEUES[l] as readonly string[]).includes(queue));
}

/**
 * BullMQ's limiter is kept in Redis per queue, so the rate holds across every worker
 * process of the lane together, however many are started: `--scale worker=8` does not
 * multiply the load a bulk revert puts on Redis and storage.
 */
export function bulkLimiter(jobsPerSecond: number): RateLimiterOptions {
  return { max: jobsPerSecond, duration: 1_000 };
}
