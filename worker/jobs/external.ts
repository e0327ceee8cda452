import { UnrecoverableError, type Job } from 'bullmq';
import type { Catalog } from '../../shared/catalog/catalog.js';
import type { Config } from '../../shared/config.js';
import { sanitizeDetail } from '../../shared/error-detail.js';
import { sourceAccess, type SourceEntry } from '../../shared/external/access.js';
import type { ExternalService } from '../../shared/external/scan-service.js';
import type { ExternalIngestPayload, ExternalPollPayload, ExternalScanPayload, ExternalSyncPayload } from '../../shared/jobs/external.js';
import type { Logger } from '../../shared/logger.js';
import type { Library } from '../../shared/model.js';

export interface ExternalJobDeps {
  config: Config;
  catalog: Catalog;
  external: ExternalService;
  logger: Logger;
  /** Entries (or resources) read and handled per page. */
  chunkSize: number;
  /** Most of a scan's ingest jobs waiting at once; the scan pauses above it. */
  maxQueued: number;
}

/** Pages one step handles before handing over to its successor: keeps every step short. */
const PAGES_PER_STEP = 5;
const THROTTLE_DELAY_MS = 500;
/** Entries of a page handled at once: they are distinct, so only Redis round trips are saved. */
const PARALLEL = 32;

/**
 * Processor of a scan step (shared/jobs/external.ts). Two phases, both in the batch's
 * cursor: `L:<key>` pages through the source's listing after <key>, creating and
 * updating resources (scan-service.ts syncEntry); `S:<id>` pages through the library's
 * resources after <id>, marking what the listing did not see as `missing`. Only a
 * listing read to its end gets to the second phase: a listing that fails fails the
 * batch with the reason, and nothing is marked missing.
 *
 * Crash safety as a bulk revert's fan-out: the cursor moves by compare-and-set only
 * after a page is done; a step re-run from the old cursor meets claims it made already
 * (`again`) and adds nothing twice.
 */
export function externalScanProcessor(deps: ExternalJobDeps) {
  return async (job: Job<ExternalScanPayload>): Promise<void> => {
    const { batchId, step } = job.data;
    const batches = deps.catalog.batches;
    let batch = await batches.get(batchId);
    if (!batch || batch.state !== 'running' || batch.enqueuedAll || batch.library === null) return;
    const lib = await deps.catalog.findLibrary(batch.library);
    if (!lib?.source) {
      await batches.fail(batchId, 'The library or its source is gone.');
      return;
    }
    const access = await sourceAccess(deps.config, lib.source);
    let listing: AsyncIterator<SourceEntry> | undefined;

    for (let page = 0; page < PAGES_PER_STEP; page++) {
      const queued = batch.enqueued - batch.done - batch.failed - batch.skipped;
      if (queued + deps.chunkSize > deps.maxQueued && queued > 0) {
        await deps.external.queueStep(batchId, step + 1, THROTTLE_DELAY_MS);
        return;
      }
      const cursor = String(batch.cursor);
      let ok: boolean;
      if (!cursor.startsWith('S:')) {
        const after = cursor.startsWith('L:') ? cursor.slice(2) : '';
        listing ??= access.list(after)[Symbol.asyncIterator]();
        const items: SourceEntry[] = [];
        let end = false;
        try {
          while (items.length < deps.chunkSize) {
            const next = await listing.next();
            if (next.done) {
              end = true;
              break;
            }
            items.push(next.value);
          }
        } catch (err) {
          const reason = sanitizeDetail(
            `The source could not be listed (${(err as { code?: string }).code ?? (err as Error).message}); nothing was marked missing.`,
          );
          deps.logger.warn({ err, batchId, library: lib.id }, 'external scan: listing failed');
          await batches.fail(batchId, reason);
          return;
        }
        let enqueued = 0;
        for (let i = 0; i < items.length; i += PARALLEL) {
          const planned = await Promise.all(items.slice(i, i + PARALLEL).map((e) => deps.external.planEntry(lib, e, batchId, batchId)));
          enqueued += planned.filter((p) => p.counted).length;
          // Queued before the cursor moves: a re-run of this page finds the same job ids.
          await deps.external.queueIngest(planned.flatMap((p) => (p.job ? [p.job] : [])));
        }
        const next = end ? 'S:0' : `L:${items.at(-1)!.key}`;
        ok = await batches.advance(batchId, cursor, next, items.length, enqueued, false);
      } else {
        ok = await sweepPage(deps, lib, batchId, cursor);
      }
      if (!ok) {
        deps.logger.info(
          { batchId, step },
          'scan moved on without this step (paused, cancelled, finished or run by another copy); stopping',
        );
        return;
      }
      batch = await batches.get(batchId);
      if (!batch || batch.state !== 'running' || batch.enqueuedAll) return;
      await job.updateProgress({ cursor: batch.cursor });
    }
    await deps.external.queueStep(batchId, step + 1);
  };
}

async function sweepPage(deps: ExternalJobDeps, lib: Library, batchId: number, cursor: string): Promise<boolean> {
  const after = Number(cursor.slice(2));
  const { items, nextCursor } = await deps.catalog.listResources({ library: lib.id, cursor: String(after), limit: deps.chunkSize });
  const { missing, deleted } = await deps.external.sweepPage(lib, items, batchId);
  const last = nextCursor === null;
  const next = `S:${nextCursor ?? items.at(-1)?.id ?? after}`;
  const ok = await deps.catalog.batches.advance(batchId, cursor, next, 0, 0, last);
  // Counted after the cursor moved: a re-run of this page marks nothing again (already missing).
  if (ok) {
    await deps.catalog.batches.tally(batchId, 'missing', missing);
    await deps.catalog.batches.tally(batchId, 'deleted', deleted);
  }
  return ok;
}

/** The ingest job of a scanned entry: the same processor as an upload's, its outcome counted in the scan. */
export function externalIngestProcessor(deps: { catalog: Catalog }, ingest: (job: Job) => Promise<void>) {
  return async (job: Job<ExternalIngestPayload>): Promise<void> => {
    const { batchId, resourceId } = job.data;
    try {
      await ingest(job);
    } catch (err) {
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final && batchId !== undefined) await deps.catalog.batches.count(batchId, resourceId, 'failed');
      throw err;
    }
    if (batchId !== undefined) await deps.catalog.batches.count(batchId, resourceId, 'done');
  };
}

/**
 * Keys a bucket notification named. Each is looked up in the source now — the event
 * says only "look here": so duplicate, late and out-of-order events all end in what
 * the source holds, and none can mark a file missing that is there.
 */
export function externalSyncProcessor(deps: ExternalJobDeps) {
  return async (job: Job<ExternalSyncPayload>): Promise<void> => {
    const lib = await deps.catalog.findLibrary(job.data.libraryId);
    if (!lib?.source) return;
    const access = await sourceAccess(deps.config, lib.source);
    for (const key of job.data.keys) {
      const entry = await access.stat(key);
      const by = await deps.catalog.batches.nextId();
      if (entry) {
        await deps.external.syncEntry(lib, entry, by);
        continue;
      }
      const marked = await deps.external.entries.markMissing(lib.id, key, by);
      if (!marked) continue;
      const rec = await deps.catalog.getResource(marked.id);
      if (rec) await deps.catalog.updateResource(rec.id, rec.fileVersion, { status: 'missing', modified: new Date().toISOString() });
    }
  };
}

/** The repeatable poll of one library: a scan, unless one runs. */
export function externalPollProcessor(deps: ExternalJobDeps) {
  return async (job: Job<ExternalPollPayload>): Promise<void> => {
    const lib = await deps.catalog.findLibrary(job.data.libraryId);
    if (!lib?.source) return;
    const { batch, started } = await deps.external.startScan(lib);
    if (started) deps.logger.info({ library: lib.id, batchId: batch.id }, 'external library polled: scan started');
  };
}
