import fs from 'node:fs/promises';
import path from 'node:path';
import { GoneError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { TusData, TusWriter } from './tus-data.js';
import type { TusPatch, TusUpload } from './tus-state.js';

/** Chunks gathered into one positional writev: a syscall per 256 KiB, not per 64 KiB chunk. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** A long PATCH is made durable (fdatasync + commit) this often, so a crash loses at most this much. */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;

/** The key of an unfinished upload's file, under the store's root and outside `resources/`. */
export function tusFileKey(id: string): string {
  return `tus/${id}`;
}

/**
 * fs driver: an unfinished upload is one file, written at its offset (not appended: a
 * crash may have left bytes past the committed offset, which the next PATCH truncates
 * away). The last byte renames it to the resource's key on the same filesystem.
 */
export class FsTusData implements TusData {
  constructor(private readonly store: ObjectStore) {}

  private file(id: string): string {
    const p = this.store.localPath(tusFileKey(id));
    if (!p) throw new Error('FsTusData needs a store with local paths (the fs driver).');
    return p;
  }

  async open(u: TusUpload): Promise<TusWriter> {
    const file = this.file(u.id);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const handle = await fs.open(file, 'r+').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && u.offset === 0) return fs.open(file, 'w+');
      throw err.code === 'ENOENT' ? lost(u) : err;
    });
    try {
      const { size } = await handle.stat();
      if (size < u.offset) throw lost(u);
      if (size > u.offset) await handle.truncate(u.offset);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new FsTusWriter(handle, file, u, this.store);
  }

  async remove(u: TusUpload): Promise<void> {
    await fs.rm(this.file(u.id), { force: true });
  }
}

function lost(u: TusUpload): GoneError {
  return new GoneError(
    `The stored bytes of upload ${u.id} are shorter than its offset ${u.offset} (storage lost them); start a new upload.`,
  );
}

class FsTusWriter implements TusWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Position of the next write. */
  private position: number;
  /** The committed offset: what a discard goes back to. */
  private lastCheckpoint: number;
  /** Offset of a checkpoint not yet confirmed committed. */
  private candidate: number;
  private closed = false;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly file: string,
    private readonly u: TusUpload,
    private readonly store: ObjectStore,
  ) {
    this.position = u.offset;
    this.lastCheckpoint = u.offset;
    this.candidate = u.offset;
  }

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < WRITE_BATCH_BYTES) return;
    // One batch on its way to the disk while the next fills: the request keeps being read
    // during a write, and memory stays at two batches.
    if (this.inflight) await this.inflight;
    this.inflight = this.writeBatch();
    // Its error surfaces at the next await of it (the next batch, or drain).
    this.inflight.catch(() => undefined);
  }

  /** Wait for the batch in flight and write what is pending. */
  private async drain(): Promise<void> {
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
    if (this.pendingBytes > 0) await this.writeBatch();
  }

  private async writeBatch(): Promise<void> {
    const buffers = this.pending;
    const n = this.pendingBytes;
    const at = this.position;
    this.pending = [];
    this.pendingBytes = 0;
    this.position += n;
    let done = 0;
    // writev may write less than asked (a full disk, a signal); continue where it stopped.
    while (done < n) {
      const { bytesWritten } = await this.handle.writev(done === 0 ? buffers : [Buffer.concat(buffers).subarray(done)], at + done);
      if (bytesWritten === 0) throw new Error(`No bytes written to ${this.file} at ${at + done}.`);
      done += bytesWritten;
    }
  }

  async checkpoint(): Promise<{ offset: number; patch: TusPatch } | undefined> {
    if (this.position + this.pendingBytes - this.candidate < CHECKPOINT_BYTES) return undefined;
    await this.drain();
    await this.handle.datasync();
    this.candidate = this.position;
    return { offset: this.position, patch: {} };
  }

  async flush(): Promise<TusPatch> {
    await this.drain();
    await this.handle.datasync();
    await this.close();
    return {};
  }

  async committed(): Promise<void> {
    this.lastCheckpoint = this.candidate;
  }

  async finish(): Promise<void> {
    await this.drain();
    await this.handle.datasync();
    await this.close();
    const target = this.store.localPath(this.u.key)!;
    const dir = path.dirname(target);
    await fs.mkdir(dir, { recursive: true });
    await fs.rename(this.file, target);
    // The rename is durable once its folder is: the upload was acknowledged as complete.
    const folder = await fs.open(dir, 'r').catch(() => undefined);
    if (folder) await folder.sync().finally(() => folder.close());
  }

  async discard(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.inflight?.catch(() => undefined);
    this.inflight = undefined;
    if (!this.closed) await this.handle.truncate(this.lastCheckpoint).catch(() => undefined);
    await this.close();
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
