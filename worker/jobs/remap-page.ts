import type { Job, Queue } from 'bullmq';
import type { BatchOutcome } from '../../shared/catalog/batches.js';
import type { Catalog } from '../../shared/catalog/catalog.js';
import { decodeRecord, encodeRecord } from '../../shared/catalog/codec.js';
import { sanitizeDetail } from '../../shared/error-detail.js';
import type { RemapPagePayload } from '../../shared/jobs/remap-page.js';
import { batchReprocessJobId, REPROCESS_JOB, reprocessJobOptions, type ReprocessPayload } from '../../shared/jobs/reprocess.js';
import type { Logger } from '../../shared/logger.js';
import { applyMappings as mapFields } from '../../shared/metadata/field-mappings.js';
import { tagWarnings } from '../../shared/metadata/tag-warnings.js';
import type { ResourceRecord } from '../../shared/model.js';
import { readRecordCopy, writeRecordCopy } from '../../shared/services/record-copy.js';
import { removeResourceObjects } from '../../shared/services/resource-service.js';
import type { ObjectStore } from '../../shared/storage/object-store.js';
import { readyPatch } from './ingest.js';

export interface RemapPageDeps {
  catalog: Catalog;
  store: ObjectStore;
  logger: Logger;
  /** The bulk lane's queue: where a resource the page cannot finish goes as a `reprocess` job. */
  queue: Queue;
  jobAttempts: number;
}

/** Record copies read (and, when changed, written) at once within a page: storage round trips overlap. */
const COPY_CONCURRENCY = 32;

/** What a page did with its resources (for the tests and the log). */
export interface RemapPageResult {
  done: number;
  skipped: number;
  /** Given to the per-resource `reprocess` job, which counts them. */
  handedOff: number;
  /** Record copies written: only where the mapped result changed. */
  copiesWritten: number;
  /** Counted in the batch by this run (0 on a re-run of a page already counted). */
  counted: number;
}

/**
 * Processor of a re-map page (shared/jobs/remap-page.ts): the current mappings over the
 * stored tag sets of up to REMAP_PAGE_SIZE resources, with the Redis reads and writes
 * pipelined per node — the same result per resource as the `reprocess` job's fast path
 * (worker/jobs/reprocess.ts), without its dozen round trips per resource.
 *
 * Per resource: its record is read (one MGET per slot for the page), its record.json
 * read, the mappings applied; the record copy is written only when what it holds of the
 * result (fields, warnings, status) changed — a mapping change that leaves a resource's
 * fields as they were costs no storage write (the copy then keeps the older
 * `mappingsVersion`: a `reindex` from it makes the resource stale again, and a later
 * batch re-maps it, again without a write). Then the record in Redis, by compare-and-set
 * against the string read (one script per record in its own slot, pipelined), and the
 * outcomes in one script on the batch.
 *
 * Crash safety: a worker killed mid-page leaves the job to stalled-job recovery, and
 * the page runs again from the start: what was written is recomputed equal (a record
 * already re-mapped is not written again, nor its copy), and each resource is counted
 * once (the batch's bitmap). Anything the page cannot finish cleanly — no stored tag set,
 * `no_exif`, a record never mapped, a storage error — goes to the per-resource
 * `reprocess` job (deterministic id, counted once), which re-reads the file where it
 * must and reports failures with their reasons as before.
 */
export function remapPageProcessor(deps: RemapPageDeps) {
  return async (job: Job<RemapPagePayload>): Promise<void> => {
    const r = await remapPage(deps, job.data);
    deps.logger.debug({ jobId: job.id, batchId: job.data.batchId, ...r }, 're-map page done');
  };
}

export async function remapPage(deps: RemapPageDeps, { batchId, items }: RemapPagePayload): Promise<RemapPageResult> {
  const { catalog, store } = deps;
  const result: RemapPageResult = { done: 0, skipped: 0, handedOff: 0, copiesWritten: 0, counted: 0 };
  const batch = await catalog.batches.get(batchId);
  // Cancelled: the queued rest of the batch ends here, at the cost of one read a page.
  if (!batch || batch.state === 'cancelled') return result;

  const [raws, mappings] = await Promise.all([catalog.getResourcesRaw(items.map(([id]) => id)), catalog.mappings.get()]);
  const outcomes: [number, BatchOutcome][] = [];
  const handOff: { id: number; fileVersion: number; why: string }[] = [];
  const writes: { raw: string; next: ResourceRecord; patch: Partial<ResourceRecord>; wroteCopy: boolean }[] = [];

  const one = async (i: number): Promise<void> => {
    const [id, fileVersion] = items[i]!;
    const raw = raws[i] ?? null;
    const record = decodeRecord(raw);
    // Replaced or deleted meanwhile, no file yet (a compat face's create_resource), or
    // being processed (an upload or revert that maps with the current mappings itself).
    if (!raw || !record || record.fileVersion !== fileVersion || !record.storageKey || record.status === 'processing') {
      outcomes.push([id, 'skipped']);
      return;
    }
    if (record.noExif || record.mappingsVersion === 0) {
      handOff.push({ id, fileVersion, why: 'no stored tag set to map (no_exif, or never mapped)' });
      return;
    }
    try {
      const copy = await readRecordCopy(store, id);
      if (!copy || Object.keys(copy.metadata).length === 0) {
        handOff.push({ id, fileVersion, why: 'no stored tag set' });
        return;
      }
      const { fields, warnings } = mapFields(mappings.fields, copy.metadata);
      const patch: Partial<ResourceRecord> = readyPatch({ fields, mappingsVersion: mappings.version }, [
        ...tagWarnings(copy.metadata),
        ...warnings,
      ]);
      const next: ResourceRecord = { ...record, ...patch };
      // As ingest: the copy lands before Redis says so, but only when it would differ.
      const wroteCopy = !sameMappedResult(copy.record, next);
      if (wroteCopy) {
        await writeRecordCopy(store, next, copy.metadata);
        result.copiesWritten++;
      }
      writes.push({ raw, next, patch, wroteCopy });
    } catch (err) {
      // A storage error: the per-resource job has its own retries and reports the reason.
      handOff.push({ id, fileVersion, why: sanitizeDetail((err as Error).message) });
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(COPY_CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await one(next++);
    }),
  );

  // A record already re-mapped (a page run again after a crash, staleOnly off) is not written again.
  const changed = writes
    .map((w) => ({ ...w, encoded: encodeRecord(w.next) }))
    .filter((w) => {
      const same = w.encoded === w.raw;
      if (same) outcomes.push([w.next.id, 'done']);
      return !same;
    });
  const written = await catalog.putResourcesIfUnchanged(changed);
  for (const [i, w] of changed.entries()) {
    if (written[i]) {
      outcomes.push([w.next.id, 'done']);
      continue;
    }
    // Changed since the page read it: patch what is there now, as ingest does.
    const { id, fileVersion } = w.next;
    if (await catalog.updateResource(id, fileVersion, w.patch)) outcomes.push([id, 'done']);
    else {
      // Deleted meanwhile: the copy just written must not outlive the record.
      if (w.wroteCopy && !(await catalog.getResource(id))) await removeResourceObjects(store, id);
      outcomes.push([id, 'skipped']);
    }
  }

  if (handOff.length) {
    deps.logger.info(
      { batchId, resources: handOff.map((h) => h.id).slice(0, 20), why: handOff[0]!.why },
      're-map page: resources handed to per-resource jobs',
    );
    await deps.queue.addBulk(
      handOff.map(({ id, fileVersion }) => ({
        name: REPROCESS_JOB,
        data: { resourceId: id, fileVersion, reread: false, renditions: false, batchId } satisfies ReprocessPayload,
        opts: { ...reprocessJobOptions(deps.jobAttempts, true), jobId: batchReprocessJobId(id, fileVersion, batchId) },
      })),
    );
  }
  result.counted = await catalog.batches.countMany(batchId, outcomes);
  result.done = outcomes.filter(([, o]) => o === 'done').length;
  result.skipped = outcomes.length - result.done;
  result.handedOff = handOff.length;
  return result;
}

/** What a record copy holds of a re-map's result: equal, and the copy need not be written. */
function sameMappedResult(a: ResourceRecord, b: ResourceRecord): boolean {
  return (
    a.status === b.status &&
    (a.error ?? null) === (b.error ?? null) &&
    (a.errorCode ?? null) === (b.errorCode ?? null) &&
    JSON.stringify(a.fields ?? {}) === JSON.stringify(b.fields) &&
    JSON.stringify(a.warnings ?? []) === JSON.stringify(b.warnings)
  );
}
