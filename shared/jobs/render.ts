import type { JobsOptions } from 'bullmq';
import { sanitizeDetail } from '../error-detail.js';
import type { ErrorCode } from '../errors.js';
import type { RenditionFormat } from '../model.js';

/**
 * The on-demand render job: one size of one file version, asked for by
 * `GET /image/{w}x{h}/{id}.{ext}` and not stored yet. Processor: worker/jobs/render.ts.
 *
 * It has a queue of its own, served by its own BullMQ worker in every worker process,
 * so a request never waits behind an ingest backlog of millions: that is what makes it
 * high-priority, more than BullMQ's per-queue `priority` could.
 */
export const RENDER_QUEUE = 'render';

export interface RenderPayload {
  resourceId: number;
  fileVersion: number;
  width: number;
  height: number;
  format: RenditionFormat;
}

/**
 * Deterministic, so concurrent requests for one size coalesce: BullMQ ignores an add
 * whose job id exists, and every requester waits on that one job.
 */
export function renderJobId(p: RenderPayload): string {
  return `render-${p.resourceId}-${p.fileVersion}-${p.width}x${p.height}-${p.format}`;
}

export function renderJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 500 },
    // Removed at once when done: the stored object is the result, and a later request
    // for a rendition that was deleted meanwhile must be able to add the job again.
    removeOnComplete: true,
    // A failure (a pixel bomb, a corrupt file) is remembered for a while, so a burst of
    // requests for the same broken image costs one attempt, not one per request.
    removeOnFail: { age: 300, count: 10_000 },
  };
}

/**
 * A failed job keeps only a message; the error code travels in front of it, so the API
 * answers a bomb with 422 and a missing original with 404, as if it had rendered itself.
 */
export function encodeRenderFailure(code: ErrorCode, message: string): string {
  return `[${code}] ${sanitizeDetail(message)}`;
}

export function decodeRenderFailure(reason: string | undefined): { code: ErrorCode; message: string } {
  const m = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(reason ?? '');
  return m ? { code: m[1] as ErrorCode, message: m[2]! } : { code: 'internal', message: reason || 'The render failed.' };
}
