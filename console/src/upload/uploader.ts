import type { ApiError } from '../api.js';
import { multipartTransport } from './multipart.js';
import { tusTransport } from './tus.js';
import { followJob, type Outcome } from './outcome.js';
import type { Transport } from './transport.js';

export type UploadState =
  | { phase: 'queued' }
  | { phase: 'sending'; sent: number; total: number }
  | { phase: 'processing'; resourceId: number }
  | { phase: 'done'; outcome: Outcome };

export interface UploadItem {
  key: number;
  file: File;
  library: string;
  transport: string;
  state: UploadState;
}

/** Files sent at once; the rest wait their turn (a browser opens ~6 connections per origin). */
const PARALLEL = 3;

/**
 * Files from this size on go through tus: a dropped connection costs the bytes since the
 * last one the API holds, not the whole file. Smaller files take one multipart request
 * (one round trip instead of tus's two).
 */
export const TUS_FROM_BYTES = 8 * 1024 * 1024;

/** The transport of one file. */
export function transportFor(file: File): Transport {
  return file.size >= TUS_FROM_BYTES ? tusTransport : multipartTransport;
}

/**
 * The upload queue of the page: files start as soon as they are chosen, a few at a time,
 * and each reports its progress and then its outcome (ready, duplicate of N, failed with
 * the reason) through `onChange`.
 */
export class Uploader {
  private items: UploadItem[] = [];
  private running = 0;
  private seq = 0;
  private readonly abort = new AbortController();

  constructor(private readonly onChange: (items: readonly UploadItem[]) => void) {}

  add(files: Iterable<File>, library: string): void {
    for (const file of files)
      this.items.push({ key: ++this.seq, file, library, transport: transportFor(file).name, state: { phase: 'queued' } });
    this.emit();
    this.pump();
  }

  clearFinished(): void {
    this.items = this.items.filter((i) => i.state.phase !== 'done');
    this.emit();
  }

  stop(): void {
    this.abort.abort();
  }

  private pump(): void {
    while (this.running < PARALLEL) {
      const next = this.items.find((i) => i.state.phase === 'queued');
      if (!next) return;
      this.running++;
      void this.run(next).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(item: UploadItem): Promise<void> {
    const set = (state: UploadState) => {
      item.state = state;
      this.emit();
    };
    try {
      set({ phase: 'sending', sent: 0, total: item.file.size });
      const accepted = await transportFor(item.file).send(
        item.file,
        item.library,
        (sent, total) => set({ phase: 'sending', sent, total }),
        this.abort.signal,
      );
      set({ phase: 'processing', resourceId: accepted.resourceId });
      set({ phase: 'done', outcome: await followJob(accepted.jobId, this.abort.signal) });
    } catch (err) {
      const e = err as ApiError;
      const matches = e.problem?.matches;
      if (Array.isArray(matches) && matches.length) set({ phase: 'done', outcome: { kind: 'duplicate', of: matches.map(Number) } });
      else set({ phase: 'done', outcome: { kind: 'failed', reason: e.message } });
    }
  }

  private emit(): void {
    this.onChange([...this.items]);
  }
}
