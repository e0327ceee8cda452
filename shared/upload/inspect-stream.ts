import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PayloadTooLargeError } from '../errors.js';
import type { HashPool, OffThreadHash } from './hash-pool.js';

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

/** Bytes handed to a hashing thread at a time: few enough messages, little memory. */
const BLOCK_BYTES = 256 * 1024;
/** Blocks per stream: one filling while the others are hashed. Bounds memory at 768 KiB a stream. */
const BLOCKS_PER_STREAM = 3;

/**
 * Pass-through that counts, hashes (SHA-256) and keeps the first bytes of a stream on
 * its way to storage — one pass over the data, nothing of it kept beyond the blocks
 * being hashed. Exceeding `limit` errors the stream with PayloadTooLargeError, which
 * aborts the store write.
 *
 * Given a HashPool with threads, the bytes are copied into 256 KiB blocks. A stream
 * that ends within its first block is hashed right here; a longer one hands its blocks
 * to the hashing threads (./hash-pool.ts), so hashing runs beside the event loop
 * instead of on it. When all of a stream's blocks are being hashed, it stops taking
 * input until one comes back: the upload is slowed, memory is not grown. Without a
 * pool (or with one of size 0) every chunk is hashed as it passes, on the event loop.
 */
export class InspectStream extends Transform {
  bytes = 0;
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;
  private digest: string | undefined;
  /** Hashing on the event loop: no pool threads. */
  private readonly inline: Hash | null;

  /** The block being filled, and how far. */
  private block: Buffer | null = null;
  private fill = 0;
  private readonly spare: ArrayBuffer[] = [];
  private allocated = 0;
  private offThread: OffThreadHash | null = null;
  /** Continues a chunk that was waiting for a free block. */
  private waiting: (() => void) | null = null;

  constructor(
    private readonly limit: number = Number.MAX_SAFE_INTEGER,
    private readonly pool?: HashPool,
  ) {
    super({ highWaterMark: STREAM_BUFFER_BYTES });
    this.inline = pool && pool.size > 0 ? null : createHash('sha256');
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
    if (this.inline) {
      this.inline.update(chunk);
      cb(null, chunk);
      return;
    }
    this.absorb(chunk, 0, cb);
  }

  /** Copies `chunk` from `offset` into blocks, sending each full one; passes it on when all is copied. */
  private absorb(chunk: Buffer, offset: number, cb: TransformCallback): void {
    while (offset < chunk.length) {
      if (!this.block) {
        const free = this.takeBlock();
        if (!free) {
          this.waiting = () => this.absorb(chunk, offset, cb);
          return;
        }
        this.block = Buffer.from(free);
        this.fill = 0;
      }
      const n = chunk.copy(this.block, this.fill, offset, offset + Math.min(chunk.length - offset, BLOCK_BYTES - this.fill));
      this.fill += n;
      offset += n;
      if (this.fill === BLOCK_BYTES) this.send();
    }
    cb(null, chunk);
  }

  private takeBlock(): ArrayBuffer | null {
    if (this.spare.length > 0) return this.spare.pop()!;
    if (this.allocated >= BLOCKS_PER_STREAM) return null;
    this.allocated++;
    return new ArrayBuffer(BLOCK_BYTES);
  }

  private send(): void {
    this.offThread ??= this.pool!.open({
      onBlock: (block) => {
        this.spare.push(block);
        const next = this.waiting;
        this.waiting = null;
        next?.();
      },
      onError: (err) => this.destroy(err),
    });
    this.offThread.update(this.block!.buffer as ArrayBuffer, this.fill);
    this.block = null;
  }

  override _flush(cb: TransformCallback): void {
    if (this.inline) {
      this.digest = this.inline.digest('hex');
      cb();
      return;
    }
    const last = this.block;
    this.block = null;
    if (!this.offThread) {
      // The whole stream fit in one block: hashing it here is cheaper than a message.
      this.digest = createHash('sha256')
        .update(last ? last.subarray(0, this.fill) : Buffer.alloc(0))
        .digest('hex');
      cb();
      return;
    }
    this.offThread.finish(last ? (last.buffer as ArrayBuffer) : null, last ? this.fill : 0).then(
      (digest) => {
        this.digest = digest;
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.waiting = null;
    if (this.digest === undefined) this.offThread?.drop();
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
