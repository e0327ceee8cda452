/**
 * The one way tests wait for something to become true: polls `fn` until it returns a
 * truthy value (which it resolves to), or fails after `timeoutMs` naming `what`, the
 * last value seen and the last error `fn` threw. Timeouts are generous because the
 * machine is shared; tests assert on what happened, never on how long it took.
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = lastError
        ? `; last error: ${(lastError as Error).message ?? String(lastError)}`
        : `; last value: ${JSON.stringify(last)?.slice(0, 500)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`);
    }
    await sleep(everyMs);
  }
}

/** A pause for a fault to take effect (a server down for a while), not a way to wait for a state: use `until`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
