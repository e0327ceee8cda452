import { Transform, type TransformCallback } from 'node:stream';
import { PayloadTooLargeError } from '../errors.js';
import type { HashPool } from './hash-pool.js';
import { RunningHash } from './running-hash.js';

/** Bytes kept from the start of a file for magic-number sniffing (file-type reads at most ~4 KiB). */
export const SNIFF_BYTES = 4100;

/**
 * Buffer of each side of the stream, and of the other stages an upload passes (busboy's
 * parser and file part, api/upload/multipart.ts). Node's default of 16 KiB is a quarter of
 * a socket read (64 KiB): every chunk then exceeds it, so each stage reported backpressure
 * on every chunk and the request was paused and resumed (a readStop/readStart of the
 * socket and a few ticks) about every other chunk even with the disk keeping up. Room for
 * two chunks lets them flow and backpressure mean a slow store. Not more: the buffers of all
 * stages are what an upload holds in memory (256 KiB each put the API at 225 MiB peak RSS
 * in bench upload-throughput, past its 200 MiB).
 */
export const STREAM_BUFFER_BYTES = 128 * 1024;

/**
 * Pass-through that counts, hashes (SHA-256) and keeps the first bytes of a stream on
 * its way to storage — one pass over the data, nothing of it kept beyond the blocks
 * being hashed. Exceeding `limit` errors the stream with PayloadTooLargeError, which
 * aborts the store write.
 *
 * The hash is a RunningHash (./running-hash.ts): given a HashPool with threads it runs
 * beside the event loop, and while all of the stream's blocks are being hashed the
 * stream takes no input (the upload is slowed, memory is not grown).
 */
export class InspectStream extends Transform {
  bytes = 0;
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;
  private digest: string | undefined;
  private readonly hash: RunningHash;

  constructor(
    private readonly limit: number = Number.MAX_SAFE_INTEGER,
    pool?: HashPool,
  ) {
    super({ highWaterMark: STREAM_BUFFER_BYTES });
    this.hash = new RunningHash(pool);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(new PayloadTooLargeError(this.limit));
      return;
    }
    if (this.headLength < SNIFF_BYTES) {
      const take = chunk.subarray(0, SNIFF_BYTES - this.headLength);
      // Copy: the chunk's memory may be a slice of a larger pooled buffer we must not pin.
      this.headChunks.push(Buffer.from(take));
      this.headLength += take.length;
    }
    const waiting = this.hash.add(chunk);
    if (!waiting) cb(null, chunk);
    else
      waiting.then(
        () => cb(null, chunk),
        (err: Error) => cb(err),
      );
  }

  override _flush(cb: TransformCallback): void {
    this.hash.digest().then(
      (digest) => {
        this.digest = digest;
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.digest === undefined) this.hash.drop();
    cb(err);
  }

  /** The hex SHA-256 of everything that passed; available once the stream has ended. */
  sha256(): string {
    if (this.digest === undefined) throw new Error('InspectStream.sha256() called before the stream ended');
    return this.digest;
  }

  head(): Buffer {
    return Buffer.concat(this.headChunks, this.headLength);
  }
}
