import type { QueueEvents } from 'bullmq';
import { AppError, RenderPendingError } from '../errors.js';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.js';
import { decodeRenderFailure, renderJobId, renderJobOptions, type RenderPayload, type RenderQueue } from './render.js';

/**
 * Adds an on-demand render job and waits until its object is stored. Requests for the
 * same size share the job (deterministic id); the stored object is the truth, queue
 * events only say when to look again, and a slow poll backs them up (events are lost
 * across a Redis reconnect).
 */
export class RenderWaiter {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly onEvent = ({ jobId }: { jobId: string }) => {
    const set = this.listeners.get(jobId);
    if (set) for (const fn of set) fn();
  };

  constructor(
    private readonly queue: RenderQueue,
    private readonly events: QueueEvents,
    private readonly store: ObjectStore,
    private readonly attempts: number,
    private readonly pollMs = 1_000,
  ) {
    events.on('completed', this.onEvent);
    events.on('failed', this.onEvent);
    events.on('error', () => undefined);
  }

  /** Resolves when `key` exists; throws the job's error, or RenderPendingError at the deadline. */
  async render(payload: RenderPayload, key: string, timeoutMs: number): Promise<void> {
    const jobId = renderJobId(payload);
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => undefined;
    let pinged: boolean;
    const ping = () => {
      pinged = true;
      wake();
    };
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(ping);
    try {
      // Subscribed first, so a job finishing between add and the first look is not missed.
      await this.add(payload, jobId);
      for (;;) {
        pinged = false;
        if (await this.exists(key)) return;
        const state = await this.queue.getJobState(jobId);
        if (state === 'failed') {
          const job = await this.queue.getJob(jobId);
          const { code, message } = decodeRenderFailure(job?.failedReason);
          throw new AppError(code, message);
        }
        // Gone without an object: completed and removed, then the object was deleted (or
        // it completed between our two looks). Adding again is harmless either way.
        if (state === 'unknown') {
          if (await this.exists(key)) return;
          await this.add(payload, jobId);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new RenderPendingError(Math.round(timeoutMs / 1000));
        if (pinged) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, this.pollMs));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      set.delete(ping);
      if (set.size === 0) this.listeners.delete(jobId);
    }
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
    this.events.off('completed', this.onEvent);
    this.events.off('failed', this.onEvent);
  }
}
