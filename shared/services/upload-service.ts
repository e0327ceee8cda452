import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Catalog } from '../catalog/catalog.js';
import { newResourceRecord } from '../catalog/new-record.js';
import { ConflictError } from '../errors.js';
import { isRedisUnavailable } from '../redis.js';
import { ingestJobId, ingestJobOptions } from '../jobs/ingest.js';
import type { IngestQueue } from '../jobs/queue-table.js';
import { bytesIngested, filesIngested } from '../metrics.js';
import type { Library, ResourceRecord } from '../model.js';
import type { ObjectStore } from '../storage/object-store.js';
import { currentRequest } from '../request-context.js';
import { originalKey, versionPrefix } from '../storage/layout.js';
import { writeRecordCopy } from './record-copy.js';
import { removeResourceObjects } from './resource-service.js';
import type { HashPool } from '../upload/hash-pool.js';
import { InspectStream } from '../upload/inspect-stream.js';
import { RunningHash } from '../upload/running-hash.js';
import { extensionOf, sniffType, type Sniffed } from '../upload/sniff.js';
import type { UploadFields } from '../upload/upload-fields.js';

/** How long a failed commit's answer waits for its undo before leaving it to the background. */
const UNDO_WAIT_MS = 2_000;
/** Undo attempts while Redis is unavailable: about two minutes with the capped backoff. */
const UNDO_ATTEMPTS = 30;

/** A file whose bytes are in storage but which has no catalog record yet. */
export interface StagedFile {
  id: number;
  key: string;
  fileName: string;
  declaredType: string | null;
  size: number;
  checksum: string;
  sniffed: Sniffed;
}

export interface IncomingFile {
  fileName: string;
  declaredType: string | null;
  stream: Readable;
}

/**
 * The core of every upload, whatever face it came through: stage the bytes in storage
 * (hashing and sniffing on the way), then commit records and jobs together — or
 * discard what was staged, so a failed request leaves nothing behind.
 */
export class UploadService {
  constructor(
    private readonly deps: {
      catalog: Catalog;
      store: ObjectStore;
      ingestQueue: IngestQueue;
      jobAttempts: number;
      /** The global upload limit (MAX_UPLOAD_BYTES); a library's own limit wins. */
      maxUploadBytes: number;
      /** Threads that hash large uploads (UPLOAD_HASH_THREADS); without, hashing runs on the event loop. */
      hashPool?: HashPool;
    },
  ) {}

  /** The catalog and store uploads commit into, for the upload paths built on this service (tus, direct). */
  get catalog(): Catalog {
    return this.deps.catalog;
  }

  get store(): ObjectStore {
    return this.deps.store;
  }

  /** A SHA-256 for an upload's bytes, on the hashing threads (UPLOAD_HASH_THREADS) every upload path shares. */
  runningHash(): RunningHash {
    return new RunningHash(this.deps.hashPool);
  }

  /** The largest file `library` accepts: its own limit, else the global one. */
  limitOf(library: Library): number {
    return library.maxUploadBytes ?? this.deps.maxUploadBytes;
  }

  /** Streams one file into storage. On error nothing of it is left under its key. */
  async stage(file: IncomingFile, limit: number, signal?: AbortSignal, replacing?: ResourceRecord): Promise<StagedFile> {
    // Wire the streams before any await: an error emitted by a stream with no listener
    // would crash the process. Errors of the source (limit, malformed body, client
    // abort) travel into `inspect`, and from there into the store's pipeline.
    const inspect = new InspectStream(limit, this.deps.hashPool);
    inspect.on('error', () => undefined);
    file.stream.on('error', (err) => inspect.destroy(err));
    // A source that failed before it got here (while the face checked the fields before
    // it, the request was already refused) emitted its error to no one: fail now.
    if (file.stream.destroyed) inspect.destroy(file.stream.errored ?? new Error('The file stream closed before it was stored.'));
    file.stream.pipe(inspect);
    let id: number;
    try {
      id = replacing ? replacing.id : await this.deps.catalog.allocateResourceId();
    } catch (err) {
      file.stream.unpipe(inspect);
      file.stream.resume();
      inspect.destroy();
      throw err;
    }
    // The key's extension is the client's (sanitised); the sniffed type is recorded on the resource.
    const key = replacing
      ? originalKey(id, replacing.fileVersion + 1, extensionOf(file.fileName), randomBytes(4).toString('hex'))
      : originalKey(id, 1, extensionOf(file.fileName));
    await this.deps.store.put(key, inspect, { contentType: 'application/octet-stream', ...(signal ? { signal } : {}) });
    const sniffed = await sniffType(inspect.head(), file.fileName);
    return { id, key, fileName: file.fileName, declaredType: file.declaredType, size: inspect.bytes, checksum: inspect.sha256(), sniffed };
  }

  /**
   * Resources of `library` that already hold the bytes with this checksum (oldest
   * first) — what a declared digest is checked against before any byte is sent.
   */
  async findExisting(library: Library, sha: string): Promise<ResourceRecord[]> {
    const found = (await this.deps.catalog.checksums.lookup([sha], library.id)).get(sha) ?? [];
    const recs = await this.deps.catalog.getResources(found.map((f) => f.id));
    return recs.filter((r): r is ResourceRecord => r !== undefined);
  }

  /** See `replaceFile`. */
  replace(current: ResourceRecord, staged: StagedFile, noExif: boolean): Promise<ResourceRecord> {
    return replaceFile(this.deps, current, staged, noExif);
  }

  /** Best effort: remove what `stage` stored for a request that will not be committed. */
  async discard(staged: StagedFile[]): Promise<void> {
    await Promise.allSettled(staged.map((s) => this.deps.store.delete(s.key)));
  }

  /**
   * Create the records (status `processing`) and enqueue one ingest job each. If the
   * queue refuses, the records and objects are removed again and the error rethrown.
   */
  async commit(staged: StagedFile[], fields: UploadFields, library: Library, source: string): Promise<ResourceRecord[]> {
    const records: ResourceRecord[] = staged.map((s) =>
      newResourceRecord({
        id: s.id,
        library: library.id,
        fileName: s.fileName,
        source,
        extension: s.sniffed.extension,
        mimeType: s.sniffed.mimeType,
        size: s.size,
        type: s.sniffed.type,
        checksum: s.checksum,
        title: fields.title,
        tags: fields.tags,
        visibility: fields.visibility,
        ...(fields.created ? { created: fields.created } : {}),
        ...(fields.modified ? { modified: fields.modified } : {}),
        noExif: fields.noExif,
        storageKey: s.key,
        declaredType: s.declaredType,
      }),
    );
    // The upload's request id rides along in the job, so the worker's log lines for the
    // file carry it (undefined outside an HTTP request, e.g. reindex), and so does the
    // webhook the upload asked for.
    const { requestId, webhookUrl } = currentRequest() ?? {};
    try {
      await this.deps.catalog.createResources(records);
      // The JSON copy in storage lets `reindex` rebuild the catalog; the worker rewrites it
      // when done. Written before the job exists, so no job can finish (and remove a
      // duplicate's objects) before it lands.
      await Promise.allSettled(records.map((r) => writeRecordCopy(this.deps.store, r, {})));
      await this.deps.ingestQueue.addBulk(
        records.map((r) => ({
          name: 'ingest',
          data: {
            resourceId: r.id,
            fileVersion: r.fileVersion,
            ...(requestId ? { requestId } : {}),
            ...(webhookUrl ? { webhookUrl } : {}),
          },
          opts: { ...ingestJobOptions(this.deps.jobAttempts), jobId: r.jobId },
        })),
      );
    } catch (err) {
      // Nothing was acknowledged, so nothing may stay: not the records (a MULTI whose
      // reply was lost when Redis died did run), not the staged bytes. Redis is often
      // what failed, so the undo keeps trying in the background while it is away; the
      // orphan sweeper removes what a process that dies meanwhile leaves behind.
      const undone = this.undo(records);
      await Promise.race([undone, new Promise((r) => setTimeout(r, UNDO_WAIT_MS).unref())]);
      throw err;
    }
    bytesIngested.inc(
      { source },
      records.reduce((n, r) => n + r.size, 0),
    );
    filesIngested.inc({ source }, records.length);
    return records;
  }

  /** Removes the records (if they were created) and every stored object of them; retries while Redis is unavailable. */
  private async undo(records: ResourceRecord[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const results = await Promise.allSettled(records.map((r) => this.deps.catalog.deleteResource(r.id)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failed) break;
      // Keeping the bytes of a record that may still exist is safer than deleting them under it.
      if (!isRedisUnavailable(failed.reason) || attempt >= UNDO_ATTEMPTS) return;
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)).unref());
    }
    await Promise.allSettled(records.map((r) => removeResourceObjects(this.deps.store, r.id)));
  }
}

/**
 * Replace the file of `current` with `staged` (staged with `replacing: current`):
 * the record moves to the next file version, its checksum claim is released (the new
 * bytes claim theirs in the ingest job), the job is enqueued and the old version's
 * objects are removed. Fails with ConflictError if the resource changed meanwhile.
 */
export async function replaceFile(
  deps: { catalog: Catalog; store: ObjectStore; ingestQueue: IngestQueue; jobAttempts: number },
  current: ResourceRecord,
  staged: StagedFile,
  noExif: boolean,
): Promise<ResourceRecord> {
  const fileVersion = current.fileVersion + 1;
  const patch = {
    fileName: staged.fileName,
    extension: staged.sniffed.extension,
    mimeType: staged.sniffed.mimeType,
    type: staged.sniffed.type,
    size: staged.size,
    checksum: staged.checksum,
    storageKey: staged.key,
    declaredType: staged.declaredType,
    fileVersion,
    jobId: ingestJobId(current.id, fileVersion),
    status: 'processing' as const,
    error: null,
    errorCode: null,
    width: null,
    height: null,
    orientation: null,
    duration: null,
    pageCount: null,
    media: null,
    renditions: [],
    noExif,
    modified: new Date().toISOString(),
  };
  if (!(await deps.catalog.updateResource(current.id, current.fileVersion, patch))) {
    throw new ConflictError(`Resource ${current.id} was deleted or its file replaced while this upload ran; fetch it again and retry.`);
  }
  const next: ResourceRecord = { ...current, ...patch };
  await deps.catalog.checksums.release(current.checksum, current.id);
  await deps.catalog.checksums.add(next.checksum, next.id);
  await writeRecordCopy(deps.store, next, {});
  const { requestId, webhookUrl } = currentRequest() ?? {};
  await deps.ingestQueue.add(
    'ingest',
    { resourceId: next.id, fileVersion, ...(requestId ? { requestId } : {}), ...(webhookUrl ? { webhookUrl } : {}) },
    { ...ingestJobOptions(deps.jobAttempts), jobId: next.jobId },
  );
  const old: string[] = [];
  for await (const o of deps.store.list(versionPrefix(current.id, current.fileVersion))) old.push(o.key);
  await Promise.allSettled(old.map((k) => deps.store.delete(k)));
  return next;
}
