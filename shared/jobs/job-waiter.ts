import type { QueueEvents } from 'bullmq';
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
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly onEvent = ({ jobId }: { jobId: string }) => {
    const set = this.listeners.get(jobId);
    if (set) for (const fn of set) fn();
  };

  constructor(
    private readonly catalog: Catalog,
    private readonly events: QueueEvents,
    private readonly pollMs = 1_000,
  ) {
    events.on('completed', this.onEvent);
    events.on('failed', this.onEvent);
    events.on('error', () => undefined);
  }

  async wait(targets: WaitTarget[], timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => undefined;
    // An event that lands while the records are being read must not be lost.
    let pinged: boolean;
    const ping = () => {
      pinged = true;
      wake();
    };
    for (const t of targets) {
      let set = this.listeners.get(t.jobId);
      if (!set) this.listeners.set(t.jobId, (set = new Set()));
      set.add(ping);
    }
    signal?.addEventListener('abort', ping);
    try {
      for (;;) {
        pinged = false;
        // Subscribed before this read, so a completion between the two is not missed.
        const states = await this.states(targets);
        const finished = states.every(({ record: r, target: t }) => r === undefined || r.fileVersion !== t.fileVersion || r.status !== 'processing');
        if (finished) return { done: true, states };
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) return { done: false, states };
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
      signal?.removeEventListener('abort', ping);
      for (const t of targets) {
        const set = this.listeners.get(t.jobId);
        set?.delete(ping);
        if (set?.size === 0) this.listeners.delete(t.jobId);
      }
    }
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
    this.events.off('completed', this.onEvent);
    this.events.off('failed', this.onEvent);
  }
}
