import { logFailure, type Logger } from '../logger.js';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Batch } from '../catalog/batches.js';
import type { Catalog } from '../catalog/catalog.js';
import { newResourceRecord } from '../catalog/new-record.js';
import type { Config } from '../config.js';
import { ConflictError } from '../errors.js';
import {
  EXTERNAL_INGEST_JOB,
  EXTERNAL_POLL_JOB,
  EXTERNAL_SCAN_JOB,
  EXTERNAL_SYNC_JOB,
  externalPollSchedulerId,
  externalScanJobId,
  externalStepOptions,
  type ExternalIngestPayload,
  type ExternalPollPayload,
  type ExternalScanPayload,
  type ExternalSyncPayload,
} from '../jobs/external.js';
import { ingestJobId, ingestJobOptions } from '../jobs/ingest.js';
import { BULK_REPROCESS_PRIORITY } from '../jobs/reprocess.js';
import type { Library, ResourceRecord } from '../model.js';
import type { RedisConnection } from '../redis.js';
import { removeResourceObjects } from '../services/resource-service.js';
import { writeRecordCopy } from '../services/record-copy.js';
import { versionPrefix } from '../storage/layout.js';
import type { ObjectStore } from '../storage/object-store.js';
import { sniffType } from '../upload/sniff.js';
import type { SourceEntry } from './access.js';
import { EntryMap } from './entries.js';
import { externalKey } from './external-store.js';

export interface IngestJob {
  jobId: string;
  data: ExternalIngestPayload;
}

/** Resources of a missing-pass page marked or deleted at once (each is a few round trips). */
const CHANGES_AT_ONCE = 32;

/** `source` of the resources of external libraries. */
export const EXTERNAL_SOURCE = 'external';

export interface ExternalDeps {
  config: Config;
  redis: RedisConnection;
  catalog: Catalog;
  store: ObjectStore;
  /** The bulk lane's queue (shared/jobs/lanes.ts): scans, their ingest jobs, events. */
  bulkQueue: Queue;
  logger: Logger;
}

/**
 * External libraries: scans as batches, one entry's create/update, events, the pollers.
 * Resources are created here with the catalog's own functions (newResourceRecord,
 * createResources, updateResource) — the same records and the same ingest job as an
 * upload's, only the original stays in the source (storage key `external/…`).
 */
export class ExternalService {
  readonly entries: EntryMap;

  constructor(private readonly deps: ExternalDeps) {
    this.entries = new EntryMap(deps.redis, deps.config.redis.prefix);
  }

  /** Starts a scan of the library, or answers the one that runs (one at a time per library). */
  async startScan(lib: Library): Promise<{ batch: Batch; started: boolean }> {
    const { catalog, redis } = this.deps;
    if (!lib.source)
      throw new ConflictError(`Library "${lib.name}" has no source to scan; create a library with a "source" to read files in place.`);
    const key = catalog.keys.externalScan(lib.id);
    const current = await redis.get(key);
    if (current) {
      const b = await catalog.batches.get(Number(current));
      if (b && (b.state === 'running' || b.state === 'paused')) return { batch: b, started: false };
    }
    const batch = await catalog.batches.create({
      kind: 'scan',
      library: lib.id,
      staleOnly: false,
      reread: false,
      renditions: false,
      mappingsVersion: 0,
      // What the library holds: the scan's estimate of its size until the listing ends.
      indexSize: await catalog.countResources(lib.id),
    });
    await redis.set(key, String(batch.id));
    await this.queueStep(batch.id, 0);
    return { batch, started: true };
  }

  async queueStep(batchId: number, step: number, delay = 0): Promise<void> {
    const data: ExternalScanPayload = { batchId, step };
    await this.deps.bulkQueue.add(EXTERNAL_SCAN_JOB, data, { ...externalStepOptions(), jobId: externalScanJobId(batchId, step), delay });
  }

  /**
   * One entry as a scan (`by` = its batch id) or an event (`by` from the same sequence)
   * saw it: creates its resource, or moves it to the next file version when the file
   * changed, and queues its ingest job. Exactly one resource per entry: the entry's
   * resource id and versions are claimed atomically (entries.ts), and records and jobs
   * are made idempotently (ids fixed by the claim), so a re-run after a crash or a
   * duplicate event adds nothing.
   * @returns whether this version of the entry counts as enqueued by `batchId`
   */
  async syncEntry(lib: Library, entry: SourceEntry, by: number, batchId?: number): Promise<boolean> {
    const { counted, job } = await this.planEntry(lib, entry, by, batchId);
    if (job) await this.queueIngest([job]);
    return counted;
  }

  /** Queues the ingest jobs `planEntry` asked for, in one round trip. */
  async queueIngest(jobs: IngestJob[]): Promise<void> {
    if (jobs.length === 0) return;
    // Below the scan's own steps (which have no priority), as a bulk revert's jobs are: the
    // next step of the listing never waits behind the files it queued.
    await this.deps.bulkQueue.addBulk(
      jobs.map((j) => ({
        name: EXTERNAL_INGEST_JOB,
        data: j.data,
        opts: { ...ingestJobOptions(this.deps.config.jobs.attempts), priority: BULK_REPROCESS_PRIORITY, jobId: j.jobId },
      })),
    );
  }

  /** `syncEntry` without queueing: the ingest job to queue, if any (a scan queues a page's together). */
  async planEntry(lib: Library, entry: SourceEntry, by: number, batchId?: number): Promise<{ counted: boolean; job?: IngestJob }> {
    const { catalog } = this.deps;
    // Unknown entries only spend an id: a rescan of known entries is one script call each.
    const claim =
      (await this.entries.claim(lib.id, entry.key, 0, entry.stamp, by)) ??
      (await this.entries.claim(lib.id, entry.key, await catalog.allocateResourceId(), entry.stamp, by))!;
    const { kind, state } = claim;
    if (kind === 'same') return { counted: false };
    const jobId = ingestJobId(state.id, state.v);
    const rec = await catalog.getResource(state.id);
    let enqueue = true;
    if (!rec) {
      // Made by this same scan before a crash, processed, and removed as a duplicate since: done.
      if (kind === 'again' && (await this.deps.bulkQueue.getJob(jobId))) return { counted: true };
      await this.create(lib, entry, state.id, state.v);
    } else if (rec.fileVersion < state.v) {
      if (!(await this.nextVersion(rec, entry, state.v))) return { counted: false };
    } else if (rec.fileVersion > state.v) {
      return { counted: false };
    } else {
      // This version exists: its job is queued or done already.
      enqueue = rec.status === 'processing';
    }
    if (!enqueue) return { counted: true };
    return {
      counted: true,
      job: { jobId, data: { resourceId: state.id, fileVersion: state.v, ...(batchId !== undefined ? { batchId } : {}) } },
    };
  }

  private async create(lib: Library, entry: SourceEntry, id: number, fileVersion: number): Promise<void> {
    const fileName = path.posix.basename(entry.key);
    // From the name only; the ingest job's identify step reads the file's head.
    const sniffed = await sniffType(Buffer.alloc(0), fileName);
    const rec = newResourceRecord({
      id,
      library: lib.id,
      fileName,
      source: EXTERNAL_SOURCE,
      fileVersion,
      extension: sniffed.extension,
      mimeType: sniffed.mimeType,
      type: sniffed.type,
      size: entry.size,
      storageKey: externalKey(lib.id, entry.key),
    });
    // No record copy yet (an upload writes one here): the ingest job writes it when done,
    // and a scan of a million files saves a million small writes.
    await this.deps.catalog.createResources([rec]);
  }

  /** The file changed: the record moves to `fileVersion`, processing; the old version's renditions go. */
  private async nextVersion(rec: ResourceRecord, entry: SourceEntry, fileVersion: number): Promise<boolean> {
    const { catalog, store } = this.deps;
    const patch: Partial<ResourceRecord> = {
      size: entry.size,
      checksum: '',
      fileVersion,
      jobId: ingestJobId(rec.id, fileVersion),
      status: 'processing',
      error: null,
      errorCode: null,
      width: null,
      height: null,
      orientation: null,
      duration: null,
      pageCount: null,
      media: null,
      renditions: [],
      modified: new Date().toISOString(),
    };
    if (!(await catalog.updateResource(rec.id, rec.fileVersion, patch))) return false;
    if (rec.checksum)
      await catalog.checksums
        .release(rec.checksum, rec.id)
        .catch(logFailure(this.deps.logger, "a changed file's old checksum claim could not be released", { resourceId: rec.id }));
    await writeRecordCopy(store, { ...rec, ...patch }, {}).catch(
      logFailure(this.deps.logger, 'record copy of a changed file could not be written; the ingest job writes it again', {
        resourceId: rec.id,
      }),
    );
    const old: string[] = [];
    for await (const o of store.list(versionPrefix(rec.id, rec.fileVersion))) old.push(o.key);
    await Promise.allSettled(old.map((k) => store.delete(k)));
    return true;
  }

  /**
   * After a complete listing by scan `batchId`, a page of the library's resources: an
   * entry the scan did not see becomes `missing`; one missing longer than
   * EXTERNAL_MISSING_GRACE is deleted. The entries are checked in one pipelined round
   * trip per Redis node (EntryMap.sweepMany); only what changes costs more.
   */
  async sweepPage(
    lib: Library,
    recs: readonly ResourceRecord[],
    batchId: number,
    now = Date.now(),
  ): Promise<{ missing: number; deleted: number }> {
    const prefix = `external/${lib.id}/`;
    const ours = recs.filter((r) => r.source === EXTERNAL_SOURCE && r.storageKey.startsWith(prefix));
    const outcomes = await this.entries.sweepMany(
      lib.id,
      ours.map((r) => r.storageKey.slice(prefix.length)),
      batchId,
      now,
    );
    const graceMs = this.deps.config.external.missingGraceSeconds * 1000;
    let missing = 0;
    let deleted = 0;
    const change = async (i: number): Promise<void> => {
      const rec = ours[i]!;
      const { marked, state } = outcomes[i]!;
      if (marked) {
        await this.deps.catalog.updateResource(rec.id, rec.fileVersion, { status: 'missing', modified: new Date(now).toISOString() });
        missing++;
      } else if (state?.missing !== undefined && now - state.missing >= graceMs) {
        await this.deps.catalog.deleteResource(rec.id);
        await removeResourceObjects(this.deps.store, rec.id);
        await this.entries.forget(lib.id, rec.storageKey.slice(prefix.length));
        deleted++;
      }
    };
    const changing = ours.flatMap((_, i) => (outcomes[i]!.marked || outcomes[i]!.state?.missing !== undefined ? [i] : []));
    for (let at = 0; at < changing.length; at += CHANGES_AT_ONCE) await Promise.all(changing.slice(at, at + CHANGES_AT_ONCE).map(change));
    return { missing, deleted };
  }

  /** A bucket notification named these keys: each is checked against the source by the worker. */
  async queueSync(lib: Library, keys: string[]): Promise<void> {
    const data: ExternalSyncPayload = { libraryId: lib.id, keys };
    await this.deps.bulkQueue.add(EXTERNAL_SYNC_JOB, data, { ...externalStepOptions() });
  }

  /**
   * The repeatable job that scans the library again: every EXTERNAL_POLL_SECONDS for an
   * fs source, every EXTERNAL_RECONCILE_SECONDS for an s3 one (events do the rest).
   * Idempotent: BullMQ keeps one scheduler per id.
   */
  async schedulePolling(lib: Library): Promise<void> {
    if (!lib.source) return;
    const seconds = lib.source.type === 'fs' ? this.deps.config.external.pollSeconds : this.deps.config.external.reconcileSeconds;
    const id = externalPollSchedulerId(lib.id);
    if (seconds === 0) {
      await this.deps.bulkQueue.removeJobScheduler(id);
      return;
    }
    const data: ExternalPollPayload = { libraryId: lib.id };
    await this.deps.bulkQueue.upsertJobScheduler(
      id,
      { every: seconds * 1000 },
      { name: EXTERNAL_POLL_JOB, data, opts: { removeOnComplete: { count: 10 }, removeOnFail: { count: 10 } } },
    );
  }
}
