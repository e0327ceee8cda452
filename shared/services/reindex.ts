import type { Queue } from 'bullmq';
import type { RedisConnection } from '../redis.js';
import { CatalogRestore } from '../catalog/restore.js';
import { InvalidRequestError } from '../errors.js';
import { ingestJobOptions, parseIngestJobId } from '../jobs/ingest.js';
import type { IngestQueue } from '../jobs/queue-table.js';
import type { Library, ResourceRecord } from '../model.js';
import { SHARD_COUNT, shardPrefix } from '../storage/layout.js';
import type { ObjectStore } from '../storage/object-store.js';
import { occupiedShards } from '../storage/shards.js';
import { readRecordCopy } from './record-copy.js';
import { EntryMap } from '../external/entries.js';
import { parseExternalKey } from '../external/external-store.js';
import { readLibraryCopies } from './library-copy.js';

/** Records read from storage at once: enough to hide storage latency, little memory. */
const READ_CHUNK = 64;

/**
 * Shards listed at once. A listing is a round trip on S3 (~25–50 ms on radosgw); a few
 * in flight hide that latency while Redis writes stay a trickle.
 */
const SHARDS_AT_ONCE = 4;

/** Most shards one call may cover: keeps one HTTP request to seconds, not hours. */
export const MAX_SHARDS_PER_CALL = 512;

/** A record copy sits right under its resource's folder: `resources/<shard>/<id>/record.json`. */
const RECORD_KEY = /^resources\/[0-9a-f]{3}\/(\d{1,15})\/record\.json$/;

export interface ReindexRange {
  /** First shard of this call, 0 … SHARD_COUNT-1. Libraries are restored by the call that starts at 0. */
  fromShard: number;
  /** How many shards this call covers. */
  shards: number;
}

export interface ReindexPage {
  fromShard: number;
  /** Where the next call starts; null once every shard was covered. */
  nextShard: number | null;
  shardCount: number;
  resources: { restored: number; unchanged: number; unreadable: number; requeued: number };
  libraries: { restored: number; unchanged: number; conflicts: string[]; placeholders: number[] };
}

/**
 * Rebuilds the Redis catalog from the JSON copies in object storage: libraries from
 * `libraries/<id>.json`, resources from their `record.json` — records, library
 * indexes, the checksum index and the id sequences. Paged by storage shard (one call
 * covers a range of the 4096 shards), so each call is short, memory stays bounded, and
 * a client can stop and resume anywhere. Idempotent: what Redis already holds in the
 * same or a newer file version is left alone.
 *
 * A record copy still saying `processing` had its job lost with Redis: its ingest job
 * is enqueued again (the deterministic job id makes that a no-op if it still exists),
 * and so is the job of a record Redis kept in `processing` while its job is gone (a
 * cluster master that failed over before the job was replicated).
 */
export class ReindexService {
  private readonly restore: CatalogRestore;
  /** External libraries' entry → resource map: rebuilt too, or a scan would make every file's resource again. */
  private readonly entries: EntryMap;

  constructor(
    private readonly deps: {
      redis: RedisConnection;
      redisPrefix: string;
      store: ObjectStore;
      ingestQueue: IngestQueue;
      /** Queues whose jobs name resources by id (ingest, bulk): see raisePastRetainedJobs. */
      resourceQueues: Queue[];
      jobAttempts: number;
    },
  ) {
    this.restore = new CatalogRestore(deps.redis, deps.redisPrefix);
    this.entries = new EntryMap(deps.redis, deps.redisPrefix);
  }

  async run(range: ReindexRange): Promise<ReindexPage> {
    const { fromShard, shards } = validate(range);
    const end = Math.min(SHARD_COUNT, fromShard + shards);
    const page: ReindexPage = {
      fromShard,
      nextShard: end >= SHARD_COUNT ? null : end,
      shardCount: SHARD_COUNT,
      resources: { restored: 0, unchanged: 0, unreadable: 0, requeued: 0 },
      libraries: { restored: 0, unchanged: 0, conflicts: [], placeholders: [] },
    };
    if (fromShard === 0) {
      await this.restoreLibraries(page);
      await this.raisePastRetainedJobs();
    }
    const knownLibraries = new Set<number>();
    // Only the shards that hold anything: a small catalog touches a few of the 4096.
    const todo = await occupiedShards(this.deps.store, fromShard, end);
    const next = async (): Promise<void> => {
      try {
        for (let shard = todo.shift(); shard !== undefined; shard = todo.shift()) await this.restoreShard(shard, page, knownLibraries);
      } catch (err) {
        todo.length = 0; // the others stop after their current shard; the call fails with this error
        throw err;
      }
    };
    await Promise.all(Array.from({ length: Math.min(SHARDS_AT_ONCE, todo.length) }, next));
    return page;
  }

  private async restoreShard(shard: number, page: ReindexPage, knownLibraries: Set<number>): Promise<void> {
    let chunk: number[] = [];
    for await (const o of this.deps.store.list(shardPrefix(shard))) {
      const m = RECORD_KEY.exec(o.key);
      if (!m) continue;
      chunk.push(Number(m[1]));
      if (chunk.length >= READ_CHUNK) {
        await this.restoreChunk(chunk, page, knownLibraries);
        chunk = [];
      }
    }
    await this.restoreChunk(chunk, page, knownLibraries);
  }

  /**
   * The queues may have outlived the catalog (a catalog lost beside a live queue, a
   * failover that kept one and not the other). An id handed out again would then meet a
   * retained job of the resource that had it — a deleted duplicate, a failed upload — and
   * BullMQ, keeping one job per id, would never run the new one. So the id sequence goes
   * past every resource id a job of these queues names. Retention bounds the finished
   * sets; the ids are read without the jobs' data.
   */
  private async raisePastRetainedJobs(): Promise<void> {
    let resources = 0;
    let batches = 0;
    for (const q of this.deps.resourceQueues) {
      for (const id of await q.getRanges(['completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized', 'paused', 'wait'], 0, -1)) {
        resources = Math.max(resources, Number(/^ingest-(\d{1,15})-/.exec(id)?.[1] ?? 0));
        // A batch's steps (reprocess-batch-{id}-s{n}, external-scan-{id}-s{n}) and its jobs (…-b{id}).
        const batch = /^(?:reprocess-batch|external-scan)-(\d{1,15})-s\d+$/.exec(id)?.[1] ?? /-b(\d{1,15})$/.exec(id)?.[1];
        batches = Math.max(batches, Number(batch ?? 0));
      }
    }
    if (resources > 0) await this.restore.raiseSequence(resources);
    if (batches > 0) await this.restore.raiseBatchSequence(batches);
  }

  private async restoreLibraries(page: ReindexPage): Promise<void> {
    for await (const lib of readLibraryCopies(this.deps.store)) {
      const outcome = await this.restore.library(lib);
      if (outcome === 'restored') page.libraries.restored++;
      else if (outcome === 'unchanged') page.libraries.unchanged++;
      else page.libraries.conflicts.push(`library ${lib.id} "${lib.name}": the name now belongs to another library; not restored`);
    }
  }

  private async restoreChunk(ids: number[], page: ReindexPage, knownLibraries: Set<number>): Promise<void> {
    const records = await Promise.all(ids.map((id) => this.readRecord(id)));
    for (const rec of records) {
      if (!rec) {
        page.resources.unreadable++;
        continue;
      }
      await this.ensureLibrary(rec.library, page, knownLibraries);
      const external = parseExternalKey(rec.storageKey ?? '');
      if (external) await this.entries.adopt(external.libraryId, external.sourceKey, rec.id, rec.fileVersion);
      if (!(await this.restore.resource(rec))) {
        page.resources.unchanged++;
        // After a failover the id sequence may lag behind the records that survived.
        await this.restore.raiseSequence(rec.id);
        // Redis kept the record but may have lost its job (a cluster master failed over
        // before the job replicated): a record still processing without its job gets it back.
        const cur = rec.status === 'processing' ? await this.restore.current(rec.id) : undefined;
        if (
          cur?.status === 'processing' &&
          cur.fileVersion === rec.fileVersion &&
          parseIngestJobId(cur.jobId) &&
          !(await this.deps.ingestQueue.getJob(cur.jobId))
        ) {
          await this.deps.ingestQueue.add(
            'ingest',
            { resourceId: cur.id, fileVersion: cur.fileVersion },
            { ...ingestJobOptions(this.deps.jobAttempts), jobId: cur.jobId },
          );
          page.resources.requeued++;
        }
        continue;
      }
      page.resources.restored++;
      if (rec.status === 'processing') {
        await this.deps.ingestQueue.add(
          'ingest',
          { resourceId: rec.id, fileVersion: rec.fileVersion },
          { ...ingestJobOptions(this.deps.jobAttempts), jobId: rec.jobId },
        );
        page.resources.requeued++;
      }
    }
  }

  /**
   * A library whose copy is missing (created before copies were written) comes back
   * under a placeholder name, so its resources are reachable; rename it afterwards.
   */
  private async ensureLibrary(id: number, page: ReindexPage, known: Set<number>): Promise<void> {
    if (known.has(id)) return;
    if (!(await this.restore.hasLibrary(id))) {
      const lib: Library = {
        id,
        name: `restored-${id}`,
        dedupe: 'reject',
        presets: [],
        maxUploadBytes: null,
        created: new Date().toISOString(),
      };
      if ((await this.restore.library(lib)) === 'restored') page.libraries.placeholders.push(id);
    }
    known.add(id);
  }

  /** The record copy, or undefined when it is gone meanwhile or not a record. Storage errors propagate. */
  private async readRecord(id: number): Promise<ResourceRecord | undefined> {
    // The copy carries the full tag set; Redis keeps the compact record without it.
    return (await readRecordCopy(this.deps.store, id))?.record;
  }
}

function validate(range: ReindexRange): ReindexRange {
  const { fromShard, shards } = range;
  if (!Number.isSafeInteger(fromShard) || fromShard < 0 || fromShard >= SHARD_COUNT) {
    throw new InvalidRequestError(
      `Expected fromShard to be an integer from 0 to ${SHARD_COUNT - 1} but received ${JSON.stringify(fromShard)}.`,
    );
  }
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > MAX_SHARDS_PER_CALL) {
    throw new InvalidRequestError(
      `Expected shards to be an integer from 1 to ${MAX_SHARDS_PER_CALL} but received ${JSON.stringify(shards)}.`,
    );
  }
  return range;
}
