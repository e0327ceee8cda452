import { setTimeout as sleep } from 'node:timers/promises';
import { InterruptedError, NetworkError, ProblemError } from './errors.js';

export interface RetryPolicy {
  /** Further attempts after the first, for network errors and 5xx. */
  retries: number;
  /** First backoff; it doubles per attempt, with jitter. @defaultValue 500 */
  baseMs: number;
  /** Longest single backoff. @defaultValue 30000 */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 5, baseMs: 500, maxMs: 30_000 };

/**
 * `429 Too Many Requests` is the server asking for patience, not a failure: it does not
 * use up an attempt, but there is a ceiling so a server that always answers 429 cannot
 * hold a file forever.
 */
const MAX_THROTTLED_WAITS = 60;
/** A Retry-After longer than this is capped: the user would rather see a failure. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  error: Error;
}

/** Worth another attempt: the request may well succeed later. 4xx other than 429 never will. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  if (err instanceof ProblemError) return err.status >= 500 || err.status === 429;
  return false;
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or the attempts are
 * used up. Backoff is exponential with "equal jitter" (half fixed, half random), so a
 * fleet of clients that failed together does not come back together; a `Retry-After`
 * from the server wins over the computed backoff.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; onRetry?: (info: RetryInfo) => void } = {},
): Promise<T> {
  let failures = 0;
  let throttled = 0;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw new InterruptedError();
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err) || opts.signal?.aborted) throw err;
      const e = err as Error;
      const is429 = err instanceof ProblemError && err.status === 429;
      if (is429 ? ++throttled > MAX_THROTTLED_WAITS : ++failures > policy.retries) throw err;
      const advised = err instanceof ProblemError ? err.retryAfterMs : undefined;
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (failures - 1 + (is429 ? throttled - 1 : 0)));
      const delayMs = advised !== undefined ? Math.min(advised, MAX_RETRY_AFTER_MS) : backoff / 2 + Math.random() * (backoff / 2);
      opts.onRetry?.({ attempt, delayMs, error: e });
      try {
        await sleep(delayMs, undefined, opts.signal ? { signal: opts.signal } : {});
      } catch {
        throw new InterruptedError();
      }
    }
  }
}

/** `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3), in ms; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
