import type { QueueEvents } from 'bullmq';
import { JobEvents } from './job-events.js';
import type { Catalog } from '../catalog/catalog.js';
import type { JobOutcome } from '../catalog/outcomes.js';
import type { ResourceRecord } from '../model.js';

export interface WaitTarget {
  resourceId: number;
  fileVersion: number;
  jobId: string;
}

/** Where one target stands: its record, or — when the record is gone — how its job ended. */
export interface TargetState {
  target: WaitTarget;
  record: ResourceRecord | undefined;
  outcome: JobOutcome | undefined;
}

export interface WaitOutcome {
  /** Every target left `processing` (or its record is gone). */
  done: boolean;
  states: TargetState[];
}

/**
 * Blocks until the resources behind some jobs leave `processing`, or a deadline.
 *
 * The resource record is the truth (jobs are trimmed once finished); queue events only
 * say when to look again. Events can be missed (a Redis reconnect drops the blocking
 * stream read), so a slow poll backs them up.
 */
export class JobWaiter {
  private readonly jobs: JobEvents;

  constructor(
    private readonly catalog: Catalog,
    events: QueueEvents,
    pollMs = 1_000,
  ) {
    this.jobs = new JobEvents(events, pollMs);
  }

  async wait(targets: WaitTarget[], timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    const finished = await this.jobs.until(
      targets.map((t) => t.jobId),
      Date.now() + timeoutMs,
      async () => {
        const states = await this.states(targets);
        const done = states.every(
          ({ record: r, target: t }) => r === undefined || r.fileVersion !== t.fileVersion || r.status !== 'processing',
        );
        return done ? states : undefined;
      },
      signal,
    );
    return finished ? { done: true, states: finished } : { done: false, states: await this.states(targets) };
  }

  /** Current records, and for those gone, the outcome notes their jobs left. */
  async states(targets: WaitTarget[]): Promise<TargetState[]> {
    const records = await this.catalog.getResources(targets.map((t) => t.resourceId));
    const missing = targets.filter((_, i) => records[i] === undefined);
    const outcomes = await this.catalog.outcomes.getMany(missing.map((t) => t.jobId));
    const byJob = new Map(missing.map((t, i) => [t.jobId, outcomes[i]]));
    return targets.map((target, i) => ({ target, record: records[i], outcome: byJob.get(target.jobId) }));
  }

  async close(): Promise<void> {
    this.jobs.close();
  }
}
