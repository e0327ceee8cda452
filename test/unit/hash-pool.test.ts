import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { PayloadTooLargeError } from '../../shared/errors.js';
import { HashPool } from '../../shared/upload/hash-pool.js';
import { InspectStream, SNIFF_BYTES, STREAM_BUFFER_BYTES } from '../../shared/upload/inspect-stream.js';
import { until } from '../harness/until.js';
import { chunked } from '../harness/chunked.js';

const KiB = 1024;
const BLOCK = 256 * KiB;

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('InspectStream hashes large streams off the event loop (HashPool)', () => {
  const pool = new HashPool(2);
  afterAll(() => pool.close());

  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['one block less a byte', BLOCK - 1],
    ['exactly one block', BLOCK],
    ['one block and a byte', BLOCK + 1],
    ['several blocks, odd tail', 5 * BLOCK + 12_345],
  ])('%s: digest, count and head equal a plain SHA-256 of the bytes', async (_name, size) => {
    const data = randomBytes(size);
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, pool);
    await pipeline(Readable.from(chunked(data, [1, 65_536, 7, 100_003, 4_099])), s, sink());
    expect(s.sha256()).toBe(sha(data));
    expect(s.bytes).toBe(size);
    expect(s.head().equals(data.subarray(0, SNIFF_BYTES))).toBe(true);
    expect(pool.openCount()).toBe(0);
  });

  it('passes every byte on unchanged and in order', async () => {
    const data = randomBytes(3 * BLOCK + 99);
    const got: Buffer[] = [];
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, pool);
    await pipeline(
      Readable.from(chunked(data, [70_000, 3])),
      s,
      new Writable({ write: (c: Buffer, _e, cb) => (got.push(Buffer.from(c)), cb()) }),
    );
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('keeps 24 concurrent streams apart on 2 threads', async () => {
    const files = Array.from({ length: 24 }, (_, i) => randomBytes(BLOCK * 2 + i * 1_000));
    const streams = files.map(() => new InspectStream(Number.MAX_SAFE_INTEGER, pool));
    await Promise.all(files.map((f, i) => pipeline(Readable.from(chunked(f, [65_536])), streams[i]!, sink())));
    streams.forEach((s, i) => expect(s.sha256()).toBe(sha(files[i]!)));
    expect(pool.openCount()).toBe(0);
  });

  it('a stream destroyed mid-way leaves no running hash behind', async () => {
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, pool);
    const source = new Readable({ read() {} });
    const done = pipeline(source, s, sink());
    source.push(randomBytes(2 * BLOCK + 5));
    await until('a running hash', () => pool.openCount() === 1, 5_000, 10);
    source.destroy(new Error('client went away'));
    await expect(done).rejects.toThrow('client went away');
    await until('the running hash to be dropped', () => pool.openCount() === 0, 5_000, 10);
    expect(() => s.sha256()).toThrow(/before the stream ended/);
  });

  it('past the limit: PayloadTooLargeError, and the running hash is dropped', async () => {
    const s = new InspectStream(3 * BLOCK, pool);
    await expect(pipeline(Readable.from(chunked(randomBytes(4 * BLOCK), [65_536])), s, sink())).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
    await until('the running hash to be dropped', () => pool.openCount() === 0, 5_000, 10);
  });

  it('holds the stream back, not the bytes, while its blocks are being hashed', async () => {
    // A slow consumer downstream and a fast source: the stream buffers no more than its
    // highWaterMarks plus three blocks, whatever the source offers.
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, pool);
    const data = randomBytes(16 * BLOCK);
    let inFlightMax = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write: (_c, _e, cb) => {
        inFlightMax = Math.max(inFlightMax, s.writableLength + s.readableLength);
        setImmediate(cb);
      },
    });
    await pipeline(Readable.from(chunked(data, [65_536])), s, slow);
    expect(s.sha256()).toBe(sha(data));
    expect(inFlightMax).toBeLessThanOrEqual(2 * STREAM_BUFFER_BYTES + 65_536);
  });

  it('a pool of size 0 (UPLOAD_HASH_THREADS=0) hashes on the event loop and never starts a thread', async () => {
    const none = new HashPool(0);
    const data = randomBytes(3 * BLOCK + 1);
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, none);
    await pipeline(Readable.from(chunked(data, [65_536])), s, sink());
    expect(s.sha256()).toBe(sha(data));
    expect(() => none.open({ onBlock: () => undefined, onError: () => undefined })).toThrow(/size 0/);
  });

  it('a hashing thread that dies fails its streams instead of leaving them hanging', async () => {
    const doomed = new HashPool(1);
    const s = new InspectStream(Number.MAX_SAFE_INTEGER, doomed);
    const source = new Readable({ read() {} });
    const done = pipeline(source, s, sink());
    source.push(randomBytes(BLOCK + 1));
    await until('the block to reach the thread', () => doomed.openCount() === 1, 5_000, 10);
    await doomed.close();
    source.push(null);
    await expect(done).rejects.toThrow(/SHA-256 thread/);
    // A new stream on the same pool starts a fresh thread.
    const data = randomBytes(2 * BLOCK);
    const again = new InspectStream(Number.MAX_SAFE_INTEGER, doomed);
    await pipeline(Readable.from([data]), again, sink());
    expect(again.sha256()).toBe(sha(data));
    await doomed.close();
  });
});
