import { Queue, QueueEvents, type JobsOptions, type QueueOptions } from 'bullmq';
import { queuePrefix } from '../catalog/keys.js';
import type { RedisConnection } from '../redis.js';
import { EVENTS_MAX_LEN } from './retention.js';
import { ingestJobOptions, INGEST_QUEUE, type IngestPayload } from './ingest.js';
import type { Lane } from './lanes.js';
import { renderJobOptions, RENDER_QUEUE, type RenderPayload } from './render.js';
import type { RemapPagePayload } from './remap-page.js';
import type { ReprocessBatchPayload } from './reprocess-batch.js';
import { reprocessJobOptions, type ReprocessPayload } from './reprocess.js';
import { webhookJobOptions, WEBHOOK_QUEUE, type WebhookPayload } from './webhook.js';

/** A payload type carried by a table row (a value is never read). */
const payload = <T>() => undefined as unknown as T;

/**
 * Every BullMQ queue of the service, in one table: its lane, the options of the jobs
 * added to it and the type of their payload. The API (producers, `GET /v1/queues`,
 * `/admin/lanes`, bull-board), the metrics and the worker (one BullMQ Worker per queue
 * of its lanes, processors in `worker/queue-processors.ts`, typed by this table) all
 * read it; adding a queue is one row here and one processor there.
 *
 * Each queue is opened through `openQueue`, with the same options everywhere: BullMQ
 * keeps some of them in the queue's meta hash in Redis (the events stream's cap), and
 * the last Queue constructed wins, so one place must make them.
 */
export const QUEUES = {
  ingest: {
    name: INGEST_QUEUE,
    lane: 'ingest',
    /** Fresh uploads and replacements; reverts of one resource asked through the API (a ReprocessPayload is an IngestPayload). */
    payload: payload<IngestPayload>(),
    jobOptions: ingestJobOptions,
    processor: 'worker/jobs/ingest.ts (a revert: worker/jobs/reprocess.ts)',
  },
  webhook: {
    name: WEBHOOK_QUEUE,
    lane: 'ingest',
    payload: payload<WebhookPayload>(),
    jobOptions: webhookJobOptions,
    processor: 'worker/jobs/webhook.ts',
  },
  render: {
    name: RENDER_QUEUE,
    lane: 'render',
    payload: payload<RenderPayload>(),
    jobOptions: renderJobOptions,
    processor: 'worker/jobs/render.ts',
  },
  bulk: {
    name: 'bulk',
    lane: 'bulk',
    /** A bulk revert's fan-out steps, its re-map pages and its per-resource jobs. */
    payload: payload<ReprocessPayload | ReprocessBatchPayload | RemapPagePayload>(),
    jobOptions: (attempts: number): JobsOptions => reprocessJobOptions(attempts, true),
    processor: 'worker/jobs/reprocess-batch.ts, worker/jobs/remap-page.ts and worker/jobs/reprocess.ts',
  },
} as const satisfies Record<string, QueueRow>;

interface QueueRow {
  name: string;
  lane: Lane;
  payload: unknown;
  /** Options of the queue's main job, given the configured attempts (JOB_ATTEMPTS). */
  jobOptions: (attempts: number) => JobsOptions;
  /** Where its jobs are processed, for readers of the table. */
  processor: string;
}

export type QueueName = keyof typeof QUEUES;
export type PayloadOf<Q extends QueueName> = (typeof QUEUES)[Q]['payload'];
export type QueueOf<Q extends QueueName> = Queue<PayloadOf<Q>, void, string>;

/** Every queue name, in table order. */
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];

export function isQueueName(s: string): s is QueueName {
  return Object.hasOwn(QUEUES, s);
}

/** Options every Queue, QueueEvents and Worker of queue `q` is opened with. */
export function queueOptions(q: QueueName, connection: RedisConnection, prefix: string): QueueOptions {
  return { connection, prefix: queuePrefix(prefix, QUEUES[q].name), streams: { events: { maxLen: EVENTS_MAX_LEN } } };
}

export function openQueue<Q extends QueueName>(q: Q, connection: RedisConnection, prefix: string): QueueOf<Q> {
  return new Queue<PayloadOf<Q>, void, string>(QUEUES[q].name, queueOptions(q, connection, prefix));
}

/** QueueEvents reads a Redis stream with blocking calls: give it a connection of its own. */
export function openQueueEvents(q: QueueName, connection: RedisConnection, prefix: string): QueueEvents {
  return new QueueEvents(QUEUES[q].name, queueOptions(q, connection, prefix));
}

/** The queues of a lane, in table order. */
export function queuesOfLane(lane: Lane): QueueName[] {
  return QUEUE_NAMES.filter((q) => QUEUES[q].lane === lane);
}

export type IngestQueue = QueueOf<'ingest'>;
export type RenderQueue = QueueOf<'render'>;
export type WebhookQueue = QueueOf<'webhook'>;
export type BulkQueue = QueueOf<'bulk'>;

export type OpenQueues = { [Q in QueueName]: QueueOf<Q> };

/** A producer Queue of every queue in the table, on one connection (no blocking reads). */
export function openQueues(connection: RedisConnection, prefix: string): OpenQueues {
  return Object.fromEntries(QUEUE_NAMES.map((q) => [q, openQueue(q, connection, prefix)])) as OpenQueues;
}
