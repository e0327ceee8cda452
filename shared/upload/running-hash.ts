import { createHash, type Hash } from 'node:crypto';
import type { HashPool, OffThreadHash } from './hash-pool.js';

/** Bytes handed to a hashing thread at a time: few enough messages, little memory. */
export const BLOCK_BYTES = 256 * 1024;
/** Blocks per hash: one filling while the others are hashed. Bounds memory at 768 KiB a hash. */
const BLOCKS_PER_HASH = 3;

/**
 * The SHA-256 of bytes that arrive in chunks: one upload's, within a request
 * (InspectStream) or across the PATCHes of a tus upload.
 *
 * Given a HashPool with threads, chunks are copied into 256 KiB blocks and each full
 * block goes to a hashing thread (./hash-pool.ts), so hashing runs beside the event loop
 * instead of on it. When all of a hash's blocks are out being hashed, `add` answers with
 * a promise that settles when one comes back: the caller stops reading (the upload slows,
 * memory does not grow). Bytes that never fill a block are hashed right here, cheaper than
 * a message. Without a pool (or with one of size 0) every chunk is hashed as it comes, on
 * the event loop.
 *
 * A thread that dies fails the hash: the `add` waiting then, every later `add`, and
 * `digest` reject with its error — nobody is left waiting.
 */
export class RunningHash {
  /** Hashing on the event loop: no pool threads. */
  private readonly inline: Hash | null;
  /** The block being filled, and how far. */
  private block: Buffer | null = null;
  private fill = 0;
  private readonly spare: ArrayBuffer[] = [];
  /** Blocks that exist (spare, filling or out at the thread). */
  private allocated = 0;
  /** Between a tus upload's requests: blocks coming back from the thread are let go, not kept. */
  private parked = false;
  private offThread: OffThreadHash | null = null;
  /** Continues an `add` that waits for a free block. */
  private waiting: { chunk: Buffer; offset: number; resolve: () => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;
  private ended = false;

  constructor(private readonly pool?: HashPool) {
    this.inline = pool && pool.size > 0 ? null : createHash('sha256');
  }

  /**
   * Hashes `chunk`. Undefined when its bytes were taken at once (the usual case: no
   * promise, no tick); otherwise a promise that settles once they are — wait for it
   * before the next `add`.
   */
  add(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inline) {
      this.inline.update(chunk);
      return undefined;
    }
    this.parked = false;
    const offset = this.absorb(chunk, 0);
    if (offset === chunk.length) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.waiting = { chunk, offset, resolve, reject };
    });
  }

  /** Copies `chunk` from `offset` into blocks, sending each full one; how far it got before the blocks ran out. */
  private absorb(chunk: Buffer, offset: number): number {
    while (offset < chunk.length) {
      if (!this.block) {
        const free = this.takeBlock();
        if (!free) return offset;
        this.block = Buffer.from(free);
        this.fill = 0;
      }
      const n = chunk.copy(this.block, this.fill, offset, offset + Math.min(chunk.length - offset, BLOCK_BYTES - this.fill));
      this.fill += n;
      offset += n;
      if (this.fill === BLOCK_BYTES) this.send();
    }
    return offset;
  }

  private takeBlock(): ArrayBuffer | null {
    if (this.spare.length > 0) return this.spare.pop()!;
    if (this.allocated >= BLOCKS_PER_HASH) return null;
    this.allocated++;
    return new ArrayBuffer(BLOCK_BYTES);
  }

  /** Hands the block being filled (whole, or the last bytes of a request when parking) to the thread. */
  private send(): void {
    this.offThread ??= this.pool!.open({
      onBlock: (block) => this.blockBack(block),
      onError: (err) => this.fail(err),
    });
    this.offThread.update(this.block!.buffer as ArrayBuffer, this.fill);
    this.block = null;
    this.fill = 0;
  }

  private blockBack(block: ArrayBuffer): void {
    if (this.parked || this.ended) this.allocated--;
    else this.spare.push(block);
    const w = this.waiting;
    if (!w) return;
    this.waiting = null;
    const offset = this.absorb(w.chunk, w.offset);
    if (offset === w.chunk.length) w.resolve();
    else this.waiting = { ...w, offset };
  }

  private fail(err: Error): void {
    this.failure = err;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  /**
   * Between requests (a tus upload waiting for its next PATCH): the bytes of the block
   * being filled go to the thread and no block is kept, so a paused upload holds only the
   * thread's running state (a few hundred bytes), not 768 KiB. The next `add` continues.
   */
  park(): void {
    if (this.inline || this.ended || this.failure) return;
    this.parked = true;
    if (this.block && this.fill > 0) this.send();
    else if (this.block) {
      this.block = null;
      this.allocated--;
    }
    this.allocated -= this.spare.length;
    this.spare.length = 0;
  }

  /** The hex SHA-256 of everything added. Ends the hash. */
  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    this.ended = true;
    if (this.inline) return Promise.resolve(this.inline.digest('hex'));
    const last = this.block;
    const length = this.fill;
    this.block = null;
    if (!this.offThread) {
      return Promise.resolve(
        createHash('sha256')
          .update(last ? last.subarray(0, length) : Buffer.alloc(0))
          .digest('hex'),
      );
    }
    return this.offThread.finish(last ? (last.buffer as ArrayBuffer) : null, last ? length : 0);
  }

  /** Forgets the hash (the bytes will not be kept): its thread lets go of it. Twice, or after `digest`, is harmless. */
  drop(): void {
    if (this.ended) return;
    this.ended = true;
    this.waiting = null;
    this.offThread?.drop();
  }
}
