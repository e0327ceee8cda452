import type { QueueEvents } from 'bullmq';

/**
 * Waiting on jobs the way both waiters need it: look at the truth (a record, a stored
 * object), and between looks sleep until one of the jobs completes or fails — or a
 * slow poll passes, since queue events are lost across a Redis reconnect.
 */
export class JobEvents {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly onEvent = ({ jobId }: { jobId: string }) => {
    const set = this.listeners.get(jobId);
    if (set) for (const fn of set) fn();
  };

  constructor(
    private readonly events: QueueEvents,
    private readonly pollMs = 1_000,
  ) {
    events.on('completed', this.onEvent);
    events.on('failed', this.onEvent);
    events.on('error', () => undefined);
  }

  /**
   * Calls `look` until it returns a value (returned), the deadline passes or `signal`
   * aborts (undefined). Subscribed before the first look, so a job finishing between a
   * look and the sleep is not missed.
   */
  async until<T>(
    jobIds: readonly string[],
    deadline: number,
    look: () => Promise<T | undefined>,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    let wake: () => void = () => undefined;
    let pinged: boolean;
    const ping = () => {
      pinged = true;
      wake();
    };
    for (const id of jobIds) {
      let set = this.listeners.get(id);
      if (!set) this.listeners.set(id, (set = new Set()));
      set.add(ping);
    }
    signal?.addEventListener('abort', ping);
    try {
      for (;;) {
        pinged = false;
        const found = await look();
        if (found !== undefined) return found;
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) return undefined;
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
      for (const id of jobIds) {
        const set = this.listeners.get(id);
        set?.delete(ping);
        if (set?.size === 0) this.listeners.delete(id);
      }
    }
  }

  close(): void {
    this.events.off('completed', this.onEvent);
    this.events.off('failed', this.onEvent);
  }
}
