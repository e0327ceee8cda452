import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queue } from 'bullmq';
import type { Lane } from './jobs/lanes.js';

/**
 * The Prometheus metrics of this process, in one registry. The API serves it at
 * `GET /metrics`; a worker process on its own port (worker/metrics-server.ts); `npm
 * start`, which runs both in one process, at `/metrics` alone.
 *
 * Pull, per process, not pushed through Redis: Prometheus handles counter resets
 * (a restarted or SIGKILLed worker) only per scraped target, and a sum kept in Redis
 * would jump backwards or double-count when a process died between pushes. Queue depth
 * is the exception: it is one fact about Redis, answered by any API replica (take
 * `max` over replicas, not `sum`).
 */
export const registry = new Registry();

let defaultsOn = false;
/** Node's own metrics (event-loop lag, heap, GC) — once per process, not per test service. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry, prefix: 'media_ingest_' });
}

export const httpDuration = new Histogram({
  name: 'media_ingest_http_request_duration_seconds',
  help: 'Time from request to response headers, by route pattern (not path: ids would explode the series) and status.',
  labelNames: ['method', 'route', 'status'] as const,
  // From a cached rendition (ms) to a ?wait upload of a large file (tens of seconds).
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

export const bytesIngested = new Counter({
  name: 'media_ingest_ingested_bytes_total',
  help: 'Bytes of files accepted into storage (counted when their records and jobs are committed), by upload source.',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const filesIngested = new Counter({
  name: 'media_ingest_ingested_files_total',
  help: 'Files accepted into storage, by upload source.',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: 'media_ingest_job_duration_seconds',
  help: 'Processing time of one job attempt, by queue, job type and outcome (completed, retry, failed).',
  labelNames: ['queue', 'job', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

export const jobFailures = new Counter({
  name: 'media_ingest_job_failures_total',
  help: 'Failed job attempts by queue and job type; final="true" when no retry follows.',
  labelNames: ['queue', 'job', 'final'] as const,
  registers: [registry],
});

export const rateLimited = new Counter({
  name: 'media_ingest_rate_limited_total',
  help: 'Requests refused with 429 by the per-key rate limit.',
  registers: [registry],
});

export const webhookDeliveries = new Counter({
  name: 'media_ingest_webhook_deliveries_total',
  help: 'Webhook delivery attempts by result (delivered, failed).',
  labelNames: ['result'] as const,
  registers: [registry],
});

/** The states a queue's depth is reported in; "completed" is left out (trimmed, and not work). */
const DEPTH_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'paused'] as const;

const depthSources = new Set<{ lane: Lane; queue: Queue }>();

/** Registers queues whose depth `/metrics` reports; returns the function that stops it. */
export function trackQueueDepth(queues: readonly { lane: Lane; queue: Queue }[]): () => void {
  for (const q of queues) depthSources.add(q);
  return () => {
    for (const q of queues) depthSources.delete(q);
  };
}

new Gauge({
  name: 'media_ingest_queue_jobs',
  help: "Jobs in each lane's queues by state, read from Redis at scrape time.",
  labelNames: ['lane', 'queue', 'state'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    await Promise.all(
      [...depthSources].map(async ({ lane, queue }) => {
        // A scrape while Redis is away reports nothing rather than failing /metrics as a whole.
        const counts = await queue.getJobCounts(...DEPTH_STATES).catch(() => undefined);
        if (!counts) return;
        for (const state of DEPTH_STATES) this.set({ lane, queue: queue.name, state }, counts[state] ?? 0);
      }),
    );
  },
});
