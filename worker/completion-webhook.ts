import { UnrecoverableError, type Job } from 'bullmq';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { LibraryWebhooks } from '../shared/catalog/webhooks.js';
import type { IngestPayload } from '../shared/jobs/ingest.js';
import type { WebhookQueue } from '../shared/jobs/queue-table.js';
import { webhookJobId, webhookJobOptions, type WebhookEvent } from '../shared/jobs/webhook.js';
import type { ResourceRecord } from '../shared/model.js';

export interface CompletionWebhookDeps {
  catalog: Catalog;
  webhooks: LibraryWebhooks;
  queue: WebhookQueue;
  attempts: number;
}

/**
 * Wraps the ingest processor: once a job has run to its end — the resource ready, or
 * failed for good — it queues the webhook of the upload (or else of its library).
 * Inside the processor, not on the worker's 'completed' event: a crash between the
 * job's end and the webhook's enqueue then re-runs the job (stalled-job recovery),
 * which queues the webhook under the same id — one delivery, never none.
 */
export function withCompletionWebhook(processor: (job: Job<IngestPayload>) => Promise<void>, deps: CompletionWebhookDeps) {
  return async (job: Job<IngestPayload>): Promise<void> => {
    try {
      await processor(job);
    } catch (err) {
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) await notify(job, deps, 'resource.failed', (err as Error).message);
      throw err;
    }
    await notify(job, deps, 'resource.ready');
  };
}

async function notify(job: Job<IngestPayload>, deps: CompletionWebhookDeps, fallback: WebhookEvent, reason?: string): Promise<void> {
  const { resourceId, fileVersion, requestId, webhookUrl } = job.data;
  const record = await deps.catalog.getResource(resourceId);
  const url = webhookUrl ?? (record ? await deps.webhooks.get(record.library) : undefined);
  if (!url) return;
  // A replaced file's job reports nothing: the newer version's job will.
  if (record && record.fileVersion !== fileVersion) return;
  const event: WebhookEvent = record?.status === 'ready' ? 'resource.ready' : record?.status === 'failed' ? 'resource.failed' : fallback;
  const body = JSON.stringify({
    type: event,
    timestamp: new Date().toISOString(),
    data: {
      resourceId,
      fileVersion,
      jobId: job.id,
      requestId: requestId ?? null,
      status: event === 'resource.ready' ? 'ready' : 'failed',
      error: record?.error ?? reason ?? null,
      resource: record ? publicView(record) : null,
    },
  });
  await deps.queue.add(
    'webhook',
    { url, event, body, ...(requestId ? { requestId } : {}) },
    { ...webhookJobOptions(deps.attempts), jobId: webhookJobId(String(job.id)) },
  );
}

/** What a receiver needs to act on the resource; storage keys and internals stay home. */
function publicView(r: ResourceRecord) {
  return {
    id: r.id,
    library: r.library,
    fileName: r.fileName,
    mimeType: r.mimeType,
    size: r.size,
    type: r.type,
    checksum: r.checksum,
    width: r.width,
    height: r.height,
    status: r.status,
    error: r.error,
    fileVersion: r.fileVersion,
  };
}
