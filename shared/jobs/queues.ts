import { Queue, QueueEvents } from 'bullmq';
import type { RedisConnection } from '../redis.js';
import { queuePrefix } from '../catalog/keys.js';
import { INGEST_QUEUE, type IngestPayload } from './ingest.js';

export type IngestQueue = Queue<IngestPayload, void, string>;

/** The queues a producer (the API) adds to. Each on a hash tag of its own (keys.ts queuePrefix). */
export function createIngestQueue(connection: RedisConnection, prefix: string): IngestQueue {
  return new Queue<IngestPayload, void, string>(INGEST_QUEUE, { connection, prefix: queuePrefix(prefix, INGEST_QUEUE) });
}

/** QueueEvents reads a Redis stream with blocking calls: give it a connection of its own. */
export function createIngestEvents(connection: RedisConnection, prefix: string): QueueEvents {
  return new QueueEvents(INGEST_QUEUE, { connection, prefix: queuePrefix(prefix, INGEST_QUEUE) });
}
