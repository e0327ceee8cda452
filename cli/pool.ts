/**
 * Runs async tasks with at most `concurrency` at once. `add` waits while more than
 * `maxQueued` tasks are waiting, so a producer (the directory walk) never runs
 * ahead of the uploads by more than a bounded amount: memory stays flat for a
 * million files.
 */
export class TaskPool {
  private running = 0;
  private readonly queue: (() => Promise<void>)[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

  /** Queues `task` (its errors are the task's business: it must not throw). */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.queue.length >= this.maxQueued) await new Promise<void>((r) => this.roomWaiters.push(r));
    this.queue.push(task);
    this.pump();
  }

  /** Resolves when every queued and running task is done. */
  async drain(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Drops the tasks not yet started (Ctrl-C); running ones finish or abort on their own. */
  clear(): void {
    this.queue.length = 0;
    for (const w of this.roomWaiters.splice(0)) w();
    if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length) {
      const task = this.queue.shift()!;
      this.roomWaiters.shift()?.();
      this.running++;
      void task()
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }
}

/**
 * Maps `source` through `fn` with at most `concurrency` calls in flight, yielding
 * results as they complete (order not kept). Reads ahead of the consumer by at most
 * `concurrency` items.
 */
export async function* mapUnordered<T, R>(source: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const it = source[Symbol.asyncIterator]();
  const inFlight = new Map<number, Promise<{ key: number; value: R }>>();
  let next = 0;
  let done = false;
  const fill = async () => {
    while (!done && inFlight.size < concurrency) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      const key = next++;
      inFlight.set(
        key,
        fn(r.value).then((value) => ({ key, value })),
      );
    }
  };
  await fill();
  while (inFlight.size) {
    const { key, value } = await Promise.race(inFlight.values());
    inFlight.delete(key);
    yield value;
    await fill();
  }
}
