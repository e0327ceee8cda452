import path from 'node:path';
import type { ApiClient } from './api-client.js';
import { AuthError, FileError, InterruptedError, NetworkError, ProblemError } from './errors.js';
import { hashFile } from './hash.js';
import { fileUploadBody } from './multipart.js';
import { mapUnordered, TaskPool } from './pool.js';
import { walk, type WalkOptions } from './walk.js';

export interface UploadOptions extends WalkOptions {
  /** Library id or name. */
  library: string;
  /** Uploads in flight at once. */
  concurrency: number;
  /** Wait for the server to finish processing each upload and report its outcome. */
  wait: boolean;
  /** With `wait`: give up on one file's processing after this many seconds. */
  waitTimeoutSeconds: number;
  /** Form fields sent with every file (title, tags, visibility, no_exif). */
  fields: [string, string][];
  /** Most checksums per pre-flight call (the server takes up to 10,000). */
  batchSize: number;
}

export type FileStatus = 'uploaded' | 'skipped' | 'failed';

/** What became of one file: one `--json` line. */
export interface FileResult {
  path: string;
  status: FileStatus;
  size?: number;
  sha256?: string;
  /** The resource: the new one, or the existing one a skipped duplicate matches. */
  id?: number;
  jobId?: string;
  /** Existing resources with these bytes (skipped as duplicate). */
  duplicateOf?: number[];
  /** Server-side processing outcome, with `--wait`. */
  processing?: 'ready' | 'failed' | 'pending';
  reason?: string;
}

export interface UploadEvents {
  /** The walk found a file (its size counts towards the total). */
  found(size: number): void;
  /** A file's fate is known. */
  result(r: FileResult): void;
  /** Something worth a line on its own (a retry, a warning). */
  notice(message: string): void;
  /** The walk has found every file: the totals are final. */
  walkFinished(): void;
}

interface Hashed {
  path: string;
  size: number;
  sha256: string;
}

/** The first pre-flight batches are small so the first uploads start at once; then they grow. */
const FIRST_BATCH = 64;

/**
 * `media-ingest upload`: walk → hash (streamed, locally) → ask the server in batches
 * which checksums exist (`POST /v1/checksums`) → upload only the rest, `concurrency`
 * at a time, each with its SHA-256 declared (`Repr-Digest` and a `sha256` field) so the
 * server can refuse a duplicate before the bytes → with `wait`, wait for processing.
 *
 * Re-running after an interruption is the resume: what finished is found by checksum
 * and skipped, and the server's own de-duplication catches an upload whose answer was
 * lost. A wrong key (401) stops the run at once; every other failure is one file's.
 */
export class Uploader {
  private fatal: Error | undefined;
  private readonly abort = new AbortController();
  private dedupe: string | undefined;

  constructor(
    private readonly client: ApiClient,
    private readonly opts: UploadOptions,
    private readonly events: UploadEvents,
    /** Ctrl-C: stop starting work; requests in flight are aborted by the client's own signal. */
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  async run(paths: string[]): Promise<void> {
    await this.checkLibrary();
    const uploads = new TaskPool(this.opts.concurrency, this.opts.batchSize * 2);
    // Waiting is a cheap long poll; run more of them than uploads so a slow job does not hold an upload slot.
    const waits = new TaskPool(this.opts.concurrency * 2, this.opts.batchSize * 4);
    const onAbort = () => {
      uploads.clear();
      waits.clear();
    };
    this.abort.signal.addEventListener('abort', onAbort, { once: true });

    const files = this.files(paths);
    const hashed = mapUnordered(files, Math.max(2, Math.min(8, this.opts.concurrency)), (f) => this.hash(f));
    let batch: Hashed[] = [];
    let limit = FIRST_BATCH;
    const flush = async () => {
      const b = batch;
      batch = [];
      limit = Math.min(this.opts.batchSize, limit * 4);
      for (const f of await this.preflight(b)) {
        if (this.abort.signal.aborted) break;
        await uploads.add(() => this.upload(f, waits));
      }
    };
    for await (const h of hashed) {
      if (this.abort.signal.aborted) break;
      if (!h) continue;
      batch.push(h);
      if (batch.length >= limit) await flush();
    }
    if (!this.abort.signal.aborted && batch.length) await flush();
    await uploads.drain();
    await waits.drain();
    if (this.fatal) throw this.fatal;
    if (this.signal?.aborted) throw new InterruptedError();
  }

  /**
   * The library must exist and the key must be good before anything else: both are
   * one clear message, not a failure per file. A server that is down is different —
   * the run goes on and every file says so.
   */
  private async checkLibrary(): Promise<void> {
    try {
      const res = await this.client.call<{ dedupe?: string }>('GET', `/v1/libraries/${encodeURIComponent(this.opts.library)}`, {
        what: 'look up the library',
      });
      this.dedupe = res.data?.dedupe;
    } catch (err) {
      if (err instanceof NetworkError) {
        this.events.notice(`warning: ${err.message}; trying each file anyway`);
        return;
      }
      throw err;
    }
  }

  private async *files(paths: string[]): AsyncGenerator<{ path: string; size: number }> {
    for await (const e of walk(paths, this.opts)) {
      if (this.abort.signal.aborted) return;
      if (e.kind === 'error') {
        this.events.result({ path: e.path, status: 'failed', reason: e.reason });
        continue;
      }
      this.events.found(e.size);
      yield e;
    }
    this.events.walkFinished();
  }

  private async hash(f: { path: string; size: number }): Promise<Hashed | undefined> {
    if (this.abort.signal.aborted) return undefined;
    try {
      const { sha256, size } = await hashFile(f.path);
      if (size === 0) {
        this.events.result({
          path: f.path,
          status: 'skipped',
          size,
          sha256,
          reason: 'empty file (0 bytes): the server stores no empty files',
        });
        return undefined;
      }
      return { path: f.path, size, sha256 };
    } catch (err) {
      this.events.result({ path: f.path, status: 'failed', size: f.size, reason: (err as Error).message });
      return undefined;
    }
  }

  /** Skips what the library holds already; returns the files to upload. */
  private async preflight(batch: Hashed[]): Promise<Hashed[]> {
    if (batch.length === 0 || this.abort.signal.aborted) return [];
    const unique = [...new Set(batch.map((f) => f.sha256))];
    let existing: Record<string, { id: number; library: number }[]>;
    try {
      const res = await this.client.call<{ existing: typeof existing }>('POST', '/v1/checksums', {
        json: { checksums: unique, library: this.opts.library },
        what: `pre-flight of ${unique.length} checksums`,
      });
      existing = res.data.existing ?? {};
    } catch (err) {
      if (this.stopFor(err)) return [];
      for (const f of batch) this.fail(f, err);
      return [];
    }
    const todo: Hashed[] = [];
    const firstOf = new Map<string, string>();
    for (const f of batch) {
      const found = existing[f.sha256];
      if (found?.length) {
        const ids = found.map((m) => m.id);
        this.events.result({
          path: f.path,
          status: 'skipped',
          size: f.size,
          sha256: f.sha256,
          id: ids[0],
          duplicateOf: ids,
          reason: `duplicate of resource ${ids.join(', ')}`,
        });
        continue;
      }
      // Two local files with the same bytes: under reject/reuse only one can become a
      // resource, so upload it once rather than race the server's de-duplication.
      const first = firstOf.get(f.sha256);
      if (first !== undefined && this.dedupe !== 'allow') {
        this.events.result({ path: f.path, status: 'skipped', size: f.size, sha256: f.sha256, reason: `same content as ${first}` });
        continue;
      }
      firstOf.set(f.sha256, f.path);
      todo.push(f);
    }
    return todo;
  }

  private async upload(f: Hashed, waits: TaskPool): Promise<void> {
    if (this.abort.signal.aborted) return;
    const body = fileUploadBody({ path: f.path, name: path.basename(f.path), size: f.size }, [['sha256', f.sha256], ...this.opts.fields]);
    try {
      const res = await this.client.call<{ resources: { id: number; jobId: string; status: string; reused?: boolean; error?: string }[] }>(
        'POST',
        `/v1/libraries/${encodeURIComponent(this.opts.library)}/files`,
        {
          file: body,
          headers: { 'repr-digest': `sha-256=:${Buffer.from(f.sha256, 'hex').toString('base64')}:` },
          what: `upload ${f.path}`,
        },
      );
      const r = res.data.resources?.[0];
      if (!r) throw new Error(`the server answered ${res.status} without a resource`);
      const base = { path: f.path, size: f.size, sha256: f.sha256, id: r.id, jobId: r.jobId };
      if (r.reused) {
        this.events.result({ ...base, status: 'skipped', duplicateOf: [r.id], reason: `duplicate of resource ${r.id} (reused)` });
        return;
      }
      if (!this.opts.wait) {
        this.events.result({ ...base, status: 'uploaded' });
        return;
      }
      await waits.add(() => this.waitFor(base));
    } catch (err) {
      if (err instanceof ProblemError && err.code === 'duplicate') {
        const ids = Array.isArray(err.problem.matches) ? (err.problem.matches as number[]) : [];
        this.events.result({
          path: f.path,
          status: 'skipped',
          size: f.size,
          sha256: f.sha256,
          ...(ids[0] ? { id: ids[0] } : {}),
          duplicateOf: ids,
          reason: err.detail,
        });
        return;
      }
      if (this.stopFor(err)) return;
      this.fail(f, err);
    }
  }

  /** Long-polls the job until it finished (204), failed (its problem), or the file's wait ran out. */
  private async waitFor(base: { path: string; size: number; sha256: string; id: number; jobId: string }): Promise<void> {
    const deadline = Date.now() + this.opts.waitTimeoutSeconds * 1000;
    try {
      for (;;) {
        if (this.abort.signal.aborted) throw new InterruptedError();
        const left = Math.ceil((deadline - Date.now()) / 1000);
        if (left <= 0) {
          this.events.result({
            ...base,
            status: 'uploaded',
            processing: 'pending',
            reason: `still processing after ${this.opts.waitTimeoutSeconds} s`,
          });
          return;
        }
        const res = await this.client.call('GET', `/v1/jobs/${encodeURIComponent(base.jobId)}/wait?timeout=${Math.min(30, left)}`, {
          what: `wait for ${base.path}`,
        });
        if (res.status === 204 || res.status === 200) {
          this.events.result({ ...base, status: 'uploaded', processing: 'ready' });
          return;
        }
      }
    } catch (err) {
      if (err instanceof ProblemError && err.code === 'duplicate') {
        // Uploaded while an identical file was on its way in (another run, or a lost answer retried): the server kept one.
        const ids = Array.isArray(err.problem.matches) ? (err.problem.matches as number[]) : [];
        this.events.result({ ...base, status: 'skipped', duplicateOf: ids, ...(ids[0] ? { id: ids[0] } : {}), reason: err.detail });
        return;
      }
      if (this.stopFor(err)) return;
      const reason = err instanceof ProblemError ? `processing failed: ${err.detail}` : (err as Error).message;
      this.events.result({ ...base, status: 'failed', processing: err instanceof ProblemError ? 'failed' : 'pending', reason });
    }
  }

  /** A wrong key ends the run (once); an interruption ends this file quietly. */
  private stopFor(err: unknown): boolean {
    if (err instanceof AuthError) {
      this.fatal ??= err;
      this.abort.abort();
      return true;
    }
    return err instanceof InterruptedError;
  }

  private fail(f: Hashed, err: unknown): void {
    let reason: string;
    if (err instanceof ProblemError) reason = `${err.detail} (HTTP ${err.status})`;
    else if (err instanceof FileError || err instanceof NetworkError) reason = err.message;
    else reason = `unexpected error: ${(err as Error)?.message ?? String(err)}`;
    this.events.result({ path: f.path, status: 'failed', size: f.size, sha256: f.sha256, reason });
  }
}
