import { describe, expect, it } from 'vitest';
import { NetworkError, ProblemError } from '../../cli/errors.js';
import { parseRetryAfter, withRetry, type RetryInfo } from '../../cli/retry.js';

const fast = { retries: 2, baseMs: 1, maxMs: 4 };

describe('CLI retries', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2099 00:00:10 GMT', Date.parse('Thu, 01 Jan 2099 00:00:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('waits as long as a 429 says, without using up attempts', async () => {
    const seen: RetryInfo[] = [];
    let calls = 0;
    const out = await withRetry(
      async () => {
        if (++calls <= 3) throw new ProblemError(429, { detail: 'slow down' }, 30);
        return 'ok';
      },
      { ...fast, retries: 0 },
      { onRetry: (i) => seen.push(i) },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    expect(seen.map((s) => s.delayMs)).toEqual([30, 30, 30]);
  });

  it('retries network errors and 5xx up to the limit, then gives the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw calls % 2
          ? new NetworkError('server unreachable: connection refused', 'ECONNREFUSED')
          : new ProblemError(503, { detail: 'busy' });
      }, fast),
    ).rejects.toThrow('server unreachable: connection refused');
    expect(calls).toBe(3);
  });

  it('never retries a 4xx other than 429', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new ProblemError(400, { detail: 'Duplicate file upload, file matches resources: 8', code: 'duplicate' });
      }, fast),
    ).rejects.toMatchObject({ status: 400, code: 'duplicate' });
    expect(calls).toBe(1);
  });
});
