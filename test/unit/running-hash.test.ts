// RunningHash across several "requests" (a tus upload's PATCHes): parked between them it
// holds no block, and the digest is that of every byte added, in order.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { HashPool } from '../../shared/upload/hash-pool.js';
import { BLOCK_BYTES, RunningHash } from '../../shared/upload/running-hash.js';
import { chunked } from '../harness/chunked.js';
import { until } from '../harness/until.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function addAll(h: RunningHash, data: Buffer, sizes: number[]): Promise<void> {
  for (const chunk of chunked(data, sizes)) {
    const waiting = h.add(chunk);
    if (waiting) await waiting;
  }
}

describe('RunningHash', () => {
  const pool = new HashPool(1);
  afterAll(() => pool.close());

  it.each([
    ['on the event loop (no threads)', new HashPool(0)],
    ['on a hashing thread', pool],
  ])('%s: bytes added over several parked requests hash as one stream', async (_name, p) => {
    // Request boundaries inside a block, on a block edge, and a request of one byte.
    const data = randomBytes(3 * BLOCK_BYTES + 77_777);
    const cuts = [100_000, BLOCK_BYTES, BLOCK_BYTES + 1, 2 * BLOCK_BYTES + 500_000 - BLOCK_BYTES, data.length];
    const h = new RunningHash(p);
    let from = 0;
    for (const to of cuts) {
      await addAll(h, data.subarray(from, to), [65_536, 7, 100_003]);
      h.park();
      from = to;
    }
    expect(await h.digest()).toBe(sha(data));
    expect(p.openCount()).toBe(0);
  });

  it('a chunk larger than all its blocks together waits for the thread, then completes', async () => {
    const data = randomBytes(5 * BLOCK_BYTES + 3);
    const h = new RunningHash(pool);
    const waiting = h.add(data);
    expect(waiting).toBeInstanceOf(Promise);
    await waiting;
    expect(await h.digest()).toBe(sha(data));
  });

  it('drop lets the thread forget the hash; digest of a small hash needs no thread', async () => {
    const h = new RunningHash(pool);
    await addAll(h, randomBytes(2 * BLOCK_BYTES), [BLOCK_BYTES]);
    await until('the hash to be open at the thread', () => pool.openCount() === 1, 5_000, 10);
    h.drop();
    h.drop();
    expect(pool.openCount()).toBe(0);
    const small = randomBytes(1000);
    const s = new RunningHash(pool);
    await addAll(s, small, [10]);
    expect(await s.digest()).toBe(sha(small));
    expect(pool.openCount()).toBe(0);
  });

  it('a thread that dies rejects the digest (the caller falls back), and later adds', async () => {
    const doomed = new HashPool(1);
    const h = new RunningHash(doomed);
    await addAll(h, randomBytes(BLOCK_BYTES + 1), [BLOCK_BYTES + 1]);
    h.park();
    await until('the block to reach the thread', () => doomed.openCount() === 1, 5_000, 10);
    await doomed.close();
    // die() removes the thread and fails its hashes in one go.
    await until('the thread to be gone', () => doomed.openCount() === 0, 5_000, 10);
    await expect(h.add(Buffer.alloc(1))).rejects.toThrow(/SHA-256 thread/);
    await expect(h.digest()).rejects.toThrow(/SHA-256 thread/);
  });
});
