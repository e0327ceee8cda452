import { GoneError } from '../errors.js';
import { ObjectNotFoundError } from '../storage/object-store.js';
import type { S3ObjectStore, UploadedPart } from '../storage/s3-store.js';
import type { TusData, TusWriter } from './tus-data.js';
import type { TusPatch, TusUpload } from './tus-state.js';

/** S3 numbers parts 1..10000. */
export const MAX_PARTS = 10_000;

type Part = UploadedPart;

/**
 * s3 driver: the upload is an S3 multipart upload at the resource's own key, started
 * with the first whole part, so the last byte completes the object where it belongs —
 * no copy. S3 wants parts of at least 5 MiB but a PATCH may bring any number of bytes:
 * the bytes past the last whole part wait in one buffer (at most one part per upload in
 * memory), and when a PATCH ends short of a part they are stored as a small object of
 * their own (`tus/{id}/tail-{offset}`), which the next PATCH — on any replica — reads
 * back first. Through the store's own client and its multipart primitives (one
 * place builds S3 clients and translates their errors).
 */
export class S3TusData implements TusData {
  constructor(private readonly store: S3ObjectStore) {}

  async open(u: TusUpload): Promise<TusWriter> {
    const parts = JSON.parse(u.parts || '[]') as Part[];
    const partsBytes = parts.length * u.partSize;
    const tailBytes = u.offset - partsBytes;
    const writer = new S3TusWriter(this, u, parts);
    if (tailBytes > 0) {
      if (!u.tail) throw lost(u);
      try {
        await writer.load(await this.tailOf(u), tailBytes);
      } catch (err) {
        writer.release();
        throw err;
      }
    }
    return writer;
  }

  private async tailOf(u: TusUpload): Promise<AsyncIterable<Buffer> & { destroy(): void }> {
    return this.store.get(u.tail).catch((err: unknown) => {
      throw err instanceof ObjectNotFoundError ? lost(u) : err;
    });
  }

  /**
   * Part buffers come from the store's budget, the one every put of the process shares
   * (PARTS_IN_MEMORY in s3-store.ts): a PATCH takes one when it has bytes to keep and
   * gives it back as soon as its part is uploaded. When all are out it waits with its
   * request body paused (TCP backpressure) rather than allocating, so memory stays
   * bounded whatever the number of concurrent uploads.
   */
  takeBuffer(size: number): Promise<Buffer> {
    return this.store.takePartBuffer(size);
  }
  giveBuffer(buffer: Buffer): void {
    this.store.givePartBuffer(buffer);
  }

  async remove(u: TusUpload): Promise<void> {
    if (u.multipart) await this.abort(u.key, u.multipart);
    if (u.tail) await this.deleteObject(u.tail);
  }

  // The primitives; the store translates storage errors.
  initiate(key: string): Promise<string> {
    return this.store.startUpload(key);
  }
  uploadPart(key: string, uploadId: string, part: number, body: Buffer): Promise<Part> {
    return this.store.uploadPart(key, uploadId, part, body);
  }
  complete(key: string, uploadId: string, parts: Part[]): Promise<void> {
    return this.store.completeUpload(key, uploadId, parts);
  }
  async abort(key: string, uploadId: string): Promise<void> {
    // Best effort: the sweeper aborts what is left (S3_MULTIPART_MAX_AGE_SECONDS).
    await this.store.abortUpload({ key, uploadId, initiated: new Date() }).catch(() => undefined);
  }
  async putObject(key: string, body: Buffer): Promise<void> {
    // Not put(): above S3_PART_SIZE (a part grown for a huge file) it would take a second
    // part buffer from the budget while this PATCH holds one.
    await this.store.putWhole(key, body);
  }
  async deleteObject(key: string): Promise<void> {
    await this.store.delete(key).catch(() => undefined);
  }
}

function lost(u: TusUpload): GoneError {
  return new GoneError(`The stored bytes of upload ${u.id} do not reach its offset ${u.offset} (storage lost them); start a new upload.`);
}

class S3TusWriter implements TusWriter {
  private multipart: string;
  /** Parts as last committed, and as uploaded since. */
  private committedParts: Part[];
  private parts: Part[];
  /** The pooled part buffer while this PATCH has bytes of a part to keep, and how much of it is filled. */
  private buffer: Buffer | undefined;
  private filled = 0;
  /** The tail object the committed state points at, and one this PATCH wrote. */
  private oldTail: string;
  private newTail = '';
  private startedMultipart = false;
  private checkpointReady = false;

  constructor(
    private readonly data: S3TusData,
    private readonly u: TusUpload,
    parts: Part[],
  ) {
    this.multipart = u.multipart;
    this.committedParts = parts;
    this.parts = [...parts];
    this.oldTail = u.tail;
  }

  private get partsBytes(): number {
    return this.parts.length * this.u.partSize;
  }

  /** The part being filled is this long: a whole part, or what is left of the file. */
  private get partBytes(): number {
    return Math.min(this.u.partSize, this.u.length - this.partsBytes);
  }

  /** Read the tail object (the bytes past the last whole part) into a fresh part buffer. */
  async load(body: AsyncIterable<Buffer> & { destroy(): void }, tailBytes: number): Promise<void> {
    const buffer = await this.hold();
    for await (const chunk of body) {
      if (this.filled + chunk.length > tailBytes) {
        body.destroy();
        throw lost(this.u);
      }
      chunk.copy(buffer, this.filled);
      this.filled += chunk.length;
    }
    if (this.filled !== tailBytes) throw lost(this.u);
  }

  private async hold(): Promise<Buffer> {
    this.buffer ??= await this.data.takeBuffer(this.u.partSize);
    return this.buffer;
  }

  async write(chunk: Buffer): Promise<void> {
    let from = 0;
    while (from < chunk.length) {
      const n = Math.min(chunk.length - from, this.partBytes - this.filled);
      if (n <= 0) throw new Error(`Upload ${this.u.id} was sent more than its ${this.u.length} bytes.`);
      const buffer = await this.hold();
      chunk.copy(buffer, this.filled, from, from + n);
      this.filled += n;
      from += n;
      // A whole part goes out at once; the last (shorter) part waits for finish().
      if (this.filled === this.u.partSize) await this.sendPart();
    }
  }

  private async sendPart(): Promise<void> {
    if (!this.multipart) {
      this.multipart = await this.data.initiate(this.u.key);
      this.startedMultipart = true;
    }
    if (this.parts.length >= MAX_PARTS) throw new Error(`Upload ${this.u.id} exceeds ${MAX_PARTS} parts of ${this.u.partSize} bytes.`);
    this.parts.push(await this.data.uploadPart(this.u.key, this.multipart, this.parts.length + 1, this.filledBytes()));
    this.filled = 0;
    // Uploaded: the buffer goes back to the budget until this PATCH brings more bytes.
    this.release();
    this.checkpointReady = true;
  }

  private filledBytes(): Buffer {
    return this.buffer ? this.buffer.subarray(0, this.filled) : Buffer.alloc(0);
  }

  async checkpoint(): Promise<{ offset: number; patch: TusPatch } | undefined> {
    // Right after a part: everything up to it is in S3 and the tail (if any) was used up.
    if (!this.checkpointReady || this.filled !== 0) return undefined;
    this.checkpointReady = false;
    return { offset: this.partsBytes, patch: { multipart: this.multipart, parts: JSON.stringify(this.parts), tail: '' } };
  }

  async flush(): Promise<TusPatch> {
    try {
      if (this.filled > 0) {
        this.newTail = `tus/${this.u.id}/tail-${this.partsBytes + this.filled}`;
        await this.data.putObject(this.newTail, this.filledBytes());
      }
    } finally {
      this.release();
    }
    return { multipart: this.multipart, parts: JSON.stringify(this.parts), tail: this.newTail };
  }

  async committed(): Promise<void> {
    const current = this.newTail;
    if (this.oldTail && this.oldTail !== current) await this.data.deleteObject(this.oldTail);
    this.oldTail = current;
    this.newTail = '';
    this.committedParts = [...this.parts];
    this.startedMultipart = false;
  }

  async finish(): Promise<void> {
    try {
      if (this.multipart) {
        if (this.filled > 0) await this.sendPart();
        await this.data.complete(this.u.key, this.multipart, this.parts);
      } else {
        await this.data.putObject(this.u.key, this.filledBytes());
      }
    } finally {
      this.release();
    }
    if (this.oldTail) await this.data.deleteObject(this.oldTail);
  }

  async discard(): Promise<void> {
    this.release();
    // Parts uploaded since the last commit stay in the multipart upload until a later
    // PATCH uploads the same part numbers again, or completion leaves them out.
    if (this.newTail) await this.data.deleteObject(this.newTail);
    if (this.startedMultipart && this.committedParts.length === 0) await this.data.abort(this.u.key, this.multipart);
    this.parts = [...this.committedParts];
  }

  /** Give the part buffer back to the budget: every path out of a PATCH ends here, and twice is harmless. */
  release(): void {
    const buffer = this.buffer;
    this.buffer = undefined;
    this.filled = 0;
    if (buffer) this.data.giveBuffer(buffer);
  }
}
