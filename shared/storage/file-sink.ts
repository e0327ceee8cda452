import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Bytes gathered before they are written: one writev of this much. */
export const WRITE_BATCH_BYTES = 256 * 1024;
/** Bytes the Writable queues while a batch is being written, before it reports backpressure. */
const QUEUE_BYTES = 128 * 1024;

/**
 * A stream into an open file that writes in batches of WRITE_BATCH_BYTES and fsyncs the
 * file once all is written, before it reports the end.
 *
 * `fs.createWriteStream` writes a chunk the moment none is in flight, and a write of
 * 64 KiB into the page cache is done before the next socket read arrives: an upload cost a
 * thread-pool round trip (a write, futex wake-ups, a callback through the loop) per 64 KiB,
 * about 7,500 writes for 512 MiB in a profile of bench upload-throughput's plain server. Here a chunk is taken
 * at once (its callback runs without waiting for the disk) until a batch is full; the batch
 * goes out as one writev while the next one gathers in the Writable's own buffer. Memory
 * stays bounded by the batch and that buffer's high-water mark (QUEUE_BYTES).
 *
 * The handle is the caller's to open (e.g. `wx` for a fresh temporary file); the sink
 * closes it, on success and on destroy, after any write still in flight.
 */
export class FileSink extends Writable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: QUEUE_BYTES });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.take(chunk);
    this.afterTake(cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.take(c.chunk);
    this.afterTake(cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flush()
      .then(() => this.handle.sync())
      .then(() => this.handle.close())
      .then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.pending = [];
    // Closing under a write in flight could hand its descriptor number to another file.
    this.inFlight
      .catch(() => undefined)
      .then(() => this.handle.close())
      .then(
        () => cb(err),
        () => cb(err),
      );
  }

  private take(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private afterTake(cb: (err?: Error | null) => void): void {
    if (this.pendingBytes < WRITE_BATCH_BYTES) {
      cb();
      return;
    }
    this.flush().then(() => cb(), cb);
  }

  private flush(): Promise<void> {
    const buffers = this.pending;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlight = total > 0 ? writeAll(this.handle, buffers, total) : Promise.resolve();
    return this.inFlight;
  }
}

/** writev until every byte is written: a regular file may take fewer bytes than asked. */
async function writeAll(handle: FileHandle, buffers: Buffer[], total: number): Promise<void> {
  let bufs = buffers;
  let left = total;
  for (;;) {
    const { bytesWritten } = await handle.writev(bufs);
    if (bytesWritten === 0) throw new Error('writev wrote nothing to a regular file');
    left -= bytesWritten;
    if (left <= 0) return;
    // Drop what was written and go on from the first byte that was not.
    let skip = bytesWritten;
    while (skip >= bufs[0]!.length) skip -= bufs.shift()!.length;
    bufs = [bufs[0]!.subarray(skip), ...bufs.slice(1)];
  }
}
