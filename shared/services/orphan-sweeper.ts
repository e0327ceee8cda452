import type { Catalog } from '../catalog/catalog.js';
import { InvalidRequestError } from '../errors.js';
import type { ResourceRecord } from '../model.js';
import { recordKey, renditionKey, RESOURCES_PREFIX, SHARD_COUNT, shardPrefix, versionPrefix } from '../storage/layout.js';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';
import { occupiedShards } from '../storage/shards.js';
import type { PendingDirectUploads } from './pending-direct-uploads.js';

/**
 * Objects younger than this are never touched by default. Uploads stage their bytes
 * before the record exists (and S3 dates a multipart object by when it was started),
 * so only an age far beyond any upload proves nobody is about to record it.
 */
export const DEFAULT_GRACE_SECONDS = 24 * 3600;
/** Most shards one sweep call covers: keeps one HTTP request to seconds. */
export const MAX_SWEEP_SHARDS = 512;
/** Most records one check call looks at. */
export const MAX_CHECK_LIMIT = 1000;

export interface SweepOptions {
  fromShard: number;
  shards: number;
  /** Objects modified less than this long ago are kept whatever they are. */
  graceSeconds: number;
  /** Report only; remove nothing. */
  dryRun: boolean;
  /**
   * Also remove resource folders that hold a JSON record copy but have no catalog
   * record. Off by default: that is what a Redis that lost data looks like, and
   * `reindex` brings those back — run it first.
   */
  removeUnindexed: boolean;
  now?: number;
}

export interface SweepPage {
  fromShard: number;
  nextShard: number | null;
  scanned: number;
  /** Keys removed (or, with dryRun, that would be). */
  orphans: string[];
  /** Orphans kept because they are younger than the grace period. */
  young: number;
  /** Resource ids whose folder has a record copy but no catalog record (see removeUnindexed). */
  unindexed: number[];
  /**
   * Partial writes removed: fs temp files an interrupted process left, and S3 multipart
   * uploads nobody will complete (older than S3_MULTIPART_MAX_AGE_SECONDS, or a direct
   * upload whose URLs expired), aborted. Not counted in a dry run.
   */
  abandonedWrites: number;
}

export interface CheckPage {
  checked: number;
  /** Records whose original (or a listed rendition) is missing from storage. */
  missing: { id: number; key: string }[];
  /**
   * Records in `processing` whose job no queue holds: a commit or a revert whose queue
   * write failed and whose undo could not run (Redis died under both). Nothing will
   * ever finish them; re-upload, revert or delete them. Reported, never changed here.
   */
  stuck: { id: number; jobId: string }[];
  nextCursor: string | null;
}

/**
 * Keeps storage and the catalog in step after crashes. `sweep` finds objects no record
 * accounts for — bytes staged by an upload that never committed, a file version left by
 * a replace cut short, whatever a delete killed halfway left — and removes them once
 * older than the grace period. `check` reports the reverse: records whose objects are
 * gone. Both page (by storage shard, by catalog cursor) so each call stays short.
 */
export class OrphanSweeper {
  constructor(
    private readonly deps: {
      catalog: Catalog;
      store: ObjectStore;
      jobExists?: (jobId: string) => Promise<boolean>;
      /** Direct uploads still being filled: their multipart uploads are kept until they expire. */
      directUploads?: PendingDirectUploads;
      /** Incomplete multipart uploads started longer ago than this are aborted. @defaultValue DEFAULT_GRACE_SECONDS */
      multipartMaxAgeSeconds?: number;
    },
  ) {}

  async sweep(opts: SweepOptions): Promise<SweepPage> {
    const { fromShard, shards, graceSeconds } = opts;
    if (!Number.isInteger(fromShard) || fromShard < 0 || fromShard >= SHARD_COUNT) {
      throw new InvalidRequestError(`Expected fromShard to be an integer from 0 to ${SHARD_COUNT - 1} but received ${fromShard}.`);
    }
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SWEEP_SHARDS) {
      throw new InvalidRequestError(`Expected shards to be an integer from 1 to ${MAX_SWEEP_SHARDS} but received ${shards}.`);
    }
    if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
      throw new InvalidRequestError(`Expected graceSeconds to be a number of seconds >= 0 but received ${graceSeconds}.`);
    }
    const cutoff = (opts.now ?? Date.now()) - graceSeconds * 1000;
    const end = Math.min(SHARD_COUNT, fromShard + shards);
    const page: SweepPage = {
      fromShard,
      nextShard: end < SHARD_COUNT ? end : null,
      scanned: 0,
      orphans: [],
      young: 0,
      unindexed: [],
      abandonedWrites: 0,
    };
    // Only the shards that hold objects (fs: folders, so temp files count too); a small
    // store has a few of the 4096, and on S3 each listing is a round trip.
    for (const shard of await occupiedShards(this.deps.store, fromShard, end)) {
      const prefix = shardPrefix(shard);
      // One resource's objects are listed together (key order), so group as they come.
      let group: ObjectInfo[] = [];
      let groupId: number | undefined;
      const flush = async () => {
        if (groupId !== undefined && group.length > 0) await this.sweepResource(groupId, group, cutoff, opts, page);
        group = [];
      };
      for await (const o of this.deps.store.list(prefix)) {
        page.scanned++;
        const m = /^resources\/[0-9a-f]{3}\/(\d{1,15})\//.exec(o.key);
        const id = m ? Number(m[1]) : undefined;
        if (id !== groupId) {
          await flush();
          groupId = id;
        }
        if (id === undefined) {
          // Not a key we write under resources/: nothing can ever account for it.
          await this.removeIfOld([o], cutoff, opts, page);
        } else {
          group.push(o);
        }
      }
      await flush();
      if (this.deps.store.removeAbandonedWrites && !opts.dryRun) {
        page.abandonedWrites += await this.deps.store.removeAbandonedWrites(prefix, new Date(cutoff));
      }
    }
    // Incomplete multipart uploads show in no object listing, so their shard may look
    // empty: one listing of them all, kept to this call's shards.
    if (!opts.dryRun) page.abandonedWrites += await this.abortStaleUploads(fromShard, end, opts.now ?? Date.now());
    return page;
  }

  /**
   * Abort the incomplete multipart uploads under `prefix` nobody will complete: a pending
   * direct upload's once its URLs expired, any other once older than the age limit (a
   * streaming upload whose process died). Their parts take space but show in no listing.
   */
  private async abortStaleUploads(fromShard: number, end: number, now: number): Promise<number> {
    const { store, directUploads } = this.deps;
    if (!store.incompleteUploads || !store.abortUpload) return 0;
    const cutoff = now - (this.deps.multipartMaxAgeSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
    let aborted = 0;
    for await (const upload of store.incompleteUploads(RESOURCES_PREFIX)) {
      const m = /^resources\/([0-9a-f]{3})\/(?:(\d{1,15})\/)?/.exec(upload.key);
      const shard = m ? parseInt(m[1]!, 16) : -1;
      if (shard < fromShard || shard >= end) continue;
      const id = m?.[2];
      const pending = id !== undefined ? await directUploads?.get(Number(id)) : undefined;
      if (pending?.uploadId === upload.uploadId) {
        if (pending.completeBy > now) continue;
        await store.abortUpload(upload);
        await directUploads!.remove(pending.resourceId);
      } else {
        if (upload.initiated.getTime() > cutoff) continue;
        await store.abortUpload(upload);
      }
      aborted++;
    }
    return aborted;
  }

  private async sweepResource(id: number, objects: ObjectInfo[], cutoff: number, opts: SweepOptions, page: SweepPage): Promise<void> {
    const record = await this.deps.catalog.getResource(id);
    if (record) {
      await this.removeIfOld(
        objects.filter((o) => !belongs(record, o.key)),
        cutoff,
        opts,
        page,
      );
      return;
    }
    if (objects.some((o) => o.key === recordKey(id)) && !opts.removeUnindexed) {
      page.unindexed.push(id);
      return;
    }
    // Re-read right before removing: an upload may have recorded it meanwhile.
    const again = await this.deps.catalog.getResource(id);
    await this.removeIfOld(again ? objects.filter((o) => !belongs(again, o.key)) : objects, cutoff, opts, page);
  }

  private async removeIfOld(objects: ObjectInfo[], cutoff: number, opts: SweepOptions, page: SweepPage): Promise<void> {
    for (const o of objects) {
      // No date (a backend that gives none) counts as young: never guess in favour of deleting.
      if (!o.lastModified || o.lastModified.getTime() > cutoff) {
        page.young++;
        continue;
      }
      page.orphans.push(o.key);
      if (!opts.dryRun) await this.deps.store.delete(o.key);
    }
  }

  /** Records (in id order from `cursor`) whose original or listed renditions are missing. */
  async check(opts: { cursor?: string; limit: number }): Promise<CheckPage> {
    if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_CHECK_LIMIT) {
      throw new InvalidRequestError(`Expected limit to be an integer from 1 to ${MAX_CHECK_LIMIT} but received ${opts.limit}.`);
    }
    const page = await this.deps.catalog.listResources({
      limit: opts.limit,
      ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
    });
    const missing: CheckPage['missing'] = [];
    for (const r of page.items) {
      for (const key of expectedKeys(r)) {
        try {
          await this.deps.store.head(key);
        } catch (err) {
          if (!(err instanceof ObjectNotFoundError)) throw err;
          // Deleted or replaced while we looked: not missing, just gone with its record.
          const now = await this.deps.catalog.getResource(r.id);
          if (now && now.fileVersion === r.fileVersion) missing.push({ id: r.id, key });
        }
      }
    }
    const stuck: CheckPage['stuck'] = [];
    const { jobExists } = this.deps;
    if (jobExists) {
      for (const r of page.items.filter((x) => x.status === 'processing')) {
        if (await jobExists(r.jobId)) continue;
        // A record is created a moment before its job is added: look again before reporting.
        const now = await this.deps.catalog.getResource(r.id);
        if (now?.status === 'processing' && now.jobId === r.jobId && !(await jobExists(r.jobId))) stuck.push({ id: r.id, jobId: r.jobId });
      }
    }
    return { checked: page.items.length, missing, stuck, nextCursor: page.nextCursor };
  }
}

/** Whether `key` is one of `record`'s objects: its JSON copy, or anything of its current file version. */
function belongs(record: ResourceRecord, key: string): boolean {
  return key === recordKey(record.id) || key.startsWith(versionPrefix(record.id, record.fileVersion));
}

/** The objects a record says exist: its original (none for metadata without a file yet), and its renditions once ready. */
function expectedKeys(r: ResourceRecord): string[] {
  const keys = r.storageKey ? [r.storageKey] : [];
  for (const rd of r.renditions) {
    const m = /^\/image\/(\d+)x(\d+)\/\d+\.(\w+)$/.exec(rd.url);
    if (m) keys.push(renditionKey(r.id, r.fileVersion, Number(m[1]), Number(m[2]), m[3]!));
  }
  return keys;
}
