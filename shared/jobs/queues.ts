import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { keyPrefix } from '../redis.js';
import { INGEST_QUEUE, type IngestPayload } from './ingest.js';

export type IngestQueue = Queue<IngestPayload, void, string>;

/** The queues a producer (the API) adds to. Keys carry the `{prefix}` hash tag for Redis Cluster. */
export function createIngestQueue(connection: Redis, prefix: string): IngestQueue {
  return new Queue<IngestPayload, void, string>(INGEST_QUEUE, { connection, prefix: keyPrefix(prefix) });
}

/** QueueEvents reads a Redis stream with blocking calls: give it a connection of its own. */
export function createIngestEvents(connection: Redis, prefix: string): QueueEvents {
  return new QueueEvents(INGEST_QUEUE, { connection, prefix: keyPrefix(prefix) });
}
