import type { QueueEvents } from 'bullmq';
import { JobEvents } from './job-events.js';
import { AppError, RenderPendingError } from '../errors.js';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.js';
import type { RenderQueue } from './queue-table.js';
import { decodeRenderFailure, renderJobId, renderJobOptions, type RenderPayload } from './render.js';

/**
 * Adds an on-demand render job and waits until its object is stored. Requests for the
 * same size share the job (deterministic id); the stored object is the truth, queue
 * events only say when to look again, and a slow poll backs them up (events are lost
 * across a Redis reconnect).
 */
export class RenderWaiter {
  private readonly jobs: JobEvents;

  constructor(
    private readonly queue: RenderQueue,
    events: QueueEvents,
    private readonly store: ObjectStore,
    private readonly attempts: number,
    pollMs = 1_000,
  ) {
    this.jobs = new JobEvents(events, pollMs);
  }

  /** Resolves when `key` exists; throws the job's error, or RenderPendingError at the deadline. */
  async render(payload: RenderPayload, key: string, timeoutMs: number): Promise<void> {
    const jobId = renderJobId(payload);
    let added = false;
    const stored = await this.jobs.until([jobId], Date.now() + timeoutMs, async () => {
      // Added inside the first look, after until() subscribed: a job finishing at once is not missed.
      if (!added) {
        await this.add(payload, jobId);
        added = true;
      }
      if (await this.exists(key)) return true;
      const state = await this.queue.getJobState(jobId);
      if (state === 'failed') {
        const job = await this.queue.getJob(jobId);
        const { code, message } = decodeRenderFailure(job?.failedReason);
        throw new AppError(code, message);
      }
      // Gone without an object: completed and removed, then the object was deleted (or
      // it completed between our two looks). Adding again is harmless either way.
      if (state === 'unknown') {
        if (await this.exists(key)) return true;
        await this.add(payload, jobId);
      }
      return undefined;
    });
    if (!stored) throw new RenderPendingError(Math.round(timeoutMs / 1000));
  }

  private async add(payload: RenderPayload, jobId: string): Promise<void> {
    await this.queue.add('render', payload, { ...renderJobOptions(this.attempts), jobId });
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.store.head(key);
      return true;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.jobs.close();
  }
}
