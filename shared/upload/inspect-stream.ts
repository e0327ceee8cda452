import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PayloadTooLargeError } from '../errors.js';

/** Bytes kept from the start of a file for magic-number sniffing (file-type reads at most ~4 KiB). */
export const SNIFF_BYTES = 4100;

/**
 * Pass-through that counts, hashes (SHA-256) and keeps the first bytes of a stream on
 * its way to storage — one pass over the data, no copy of it kept. Exceeding `limit`
 * errors the stream with PayloadTooLargeError, which aborts the store write.
 */
export class InspectStream extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;
  private digest: string | undefined;

  constructor(private readonly limit: number = Number.MAX_SAFE_INTEGER) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(new PayloadTooLargeError(this.limit));
      return;
    }
    this.hash.update(chunk);
    if (this.headLength < SNIFF_BYTES) {
      const take = chunk.subarray(0, SNIFF_BYTES - this.headLength);
      // Copy: the chunk's memory may be a slice of a larger pooled buffer we must not pin.
      this.headChunks.push(Buffer.from(take));
      this.headLength += take.length;
    }
    cb(null, chunk);
  }

  /** The hex SHA-256 of everything that passed; call after the stream finished. */
  sha256(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }

  head(): Buffer {
    return Buffer.concat(this.headChunks, this.headLength);
  }
}
