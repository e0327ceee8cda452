import fs from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Catalog } from '../../shared/catalog/catalog.js';
import type { Config } from '../../shared/config.js';
import { sanitizeDetail } from '../../shared/error-detail.js';
import { errorCodeOf, RETRYABLE } from '../../shared/errors.js';
import type { IngestPayload } from '../../shared/jobs/ingest.js';
import { logFailure, type Logger } from '../../shared/logger.js';
import type { ResourceRecord } from '../../shared/model.js';
import { removeResourceObjects as removeObjects } from '../../shared/services/resource-service.js';
import { writeRecordCopy } from '../../shared/services/record-copy.js';
import type { ObjectStore } from '../../shared/storage/object-store.js';
import { dedupe } from '../steps/dedupe.js';
import { applyMappings } from '../steps/apply-mappings.js';
import { extractMetadata } from '../steps/extract-metadata.js';
import { identify } from '../steps/identify.js';
import { probeImage } from '../steps/probe-image.js';
import { probeMediaStep } from '../steps/probe-media.js';
import { renditions } from '../steps/renditions.js';
import type { IngestContext, IngestFinish, IngestStep } from '../steps/step.js';
import { verifyChecksum } from '../steps/verify-checksum.js';
import { verifyStored } from '../steps/verify-stored.js';
import { hashSource } from '../steps/hash-source.js';
import { downloadToScratch } from '../scratch.js';

export interface IngestDeps {
  config: Config;
  catalog: Catalog;
  store: ObjectStore;
  logger: Logger;
}

/**
 * The steps of ingest, in order. Metadata extraction, de-duplication and renditions
 * slot in here as they are built.
 */
export const INGEST_STEPS: readonly IngestStep[] = [
  verifyStored,
  verifyChecksum,
  hashSource,
  identify,
  dedupe,
  extractMetadata,
  applyMappings,
  probeImage,
  probeMediaStep,
  renditions,
];

/**
 * Progress is written (a Redis script and an event each) only once a step ends this long
 * after the last write: a long video job still tells GET /v1/jobs/{id} how far it got,
 * and the many short jobs of a bulk revert spend no round trips on it — they compete
 * for the same cores as exiftool.
 */
const PROGRESS_EVERY_MS = 1_000;

/** A hostile file can make exiftool warn without end; the record stays small. */
const MAX_WARNINGS = 50;

/**
 * What makes a processed resource `ready`: its mapped patch, its warnings (capped and
 * sanitised), no error. The ingest job and the paged re-map both end a resource here,
 * so the two paths record the same thing.
 */
export function readyPatch<P extends Partial<ResourceRecord>>(patch: P, warnings: readonly string[]) {
  return {
    ...patch,
    warnings: warnings.slice(0, MAX_WARNINGS).map((w) => sanitizeDetail(w)),
    status: 'ready' as const,
    error: null,
    errorCode: null,
  };
}

/**
 * Processor of the `ingest` job. Idempotent: it reads the record, recomputes everything
 * from the stored original and writes the result guarded by the file version, so a
 * re-run after a crash (stalled-job recovery) gives the same record and no duplicate.
 */
export function ingestProcessor(deps: IngestDeps, steps: readonly IngestStep[] = INGEST_STEPS) {
  return async (job: Job<IngestPayload>): Promise<void> => {
    const { resourceId, fileVersion } = job.data;
    const logger = deps.logger.child({ jobId: job.id, resourceId, requestId: job.data.requestId });
    const record = await deps.catalog.getResource(resourceId);
    if (!record) {
      // Deleted — by a client, or by an earlier run of this job as a duplicate that
      // crashed before removing the bytes. Removing them again is harmless.
      await removeObjects(deps.store, resourceId);
      logger.info('resource deleted; nothing to do');
      return;
    }
    if (record.fileVersion !== fileVersion) {
      logger.info('file replaced since this job was queued; nothing to do');
      return;
    }
    let downloaded: string | undefined;
    let finished: IngestFinish | undefined;
    const ctx: IngestContext = {
      record,
      catalog: deps.catalog,
      config: deps.config,
      store: deps.store,
      logger,
      patch: {},
      metadata: {},
      warnings: [],
      localFile: async () => {
        const local = deps.store.localPath(record.storageKey);
        if (local) return local;
        // The process's own scratch folder: what a killed worker leaves there is removed at the next start.
        if (!downloaded) downloaded = await downloadToScratch(deps.store, record.storageKey, `mi-${job.id}`);
        return downloaded;
      },
      finish: (how) => {
        finished = how;
      },
    };
    try {
      let told = Date.now();
      for (const [i, step] of steps.entries()) {
        await step.run(ctx);
        if (finished) break;
        if (Date.now() - told >= PROGRESS_EVERY_MS) {
          await job.updateProgress(Math.round(((i + 1) / (steps.length + 1)) * 100));
          told = Date.now();
        }
      }
      if (finished) {
        if (finished.removeResource) {
          await deps.catalog.deleteResource(resourceId);
          await removeObjects(deps.store, resourceId);
        }
        if (finished.error) throw new UnrecoverableError(finished.error.message);
        return;
      }
      const patch = readyPatch(ctx.patch, ctx.warnings);
      // The full record (with the tag set) lands in storage before Redis says `ready`:
      // a client that sees `ready` and reads the resource must get its metadata.
      if (!(await stillCurrent(deps.catalog, resourceId, fileVersion))) {
        logger.info('resource deleted or replaced while processing; result dropped');
        return;
      }
      await writeRecordCopy(deps.store, { ...record, ...patch }, ctx.metadata);
      if (!(await deps.catalog.updateResource(resourceId, fileVersion, patch))) {
        logger.info('resource deleted or replaced while processing; result dropped');
        // Deleted meanwhile: the copy just written must not outlive the record.
        if (!(await deps.catalog.getResource(resourceId))) await removeObjects(deps.store, resourceId);
        return;
      }
      await job.updateProgress(100);
    } catch (err) {
      if (err instanceof UnrecoverableError && finished) throw err;
      const code = errorCodeOf(err);
      // A code no retry can fix (shared/errors.ts RETRYABLE) fails the job at once with the reason.
      const permanent = !RETRYABLE[code] || err instanceof UnrecoverableError;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (permanent || lastAttempt) {
        // What clients read as the resource's `error`: one line, no server paths.
        const message = sanitizeDetail((err as Error).message);
        logger.warn({ err, code, attempt: job.attemptsMade + 1 }, 'ingest failed');
        if (await stillCurrent(deps.catalog, resourceId, fileVersion)) {
          await writeRecordCopy(deps.store, { ...record, status: 'failed', error: message, errorCode: code }, ctx.metadata).catch(
            logFailure(logger, "failed resource's record copy could not be written"),
          );
        }
        await deps.catalog.updateResource(resourceId, fileVersion, { status: 'failed', error: message, errorCode: code });
        // A failed resource holds no claim on its bytes: uploading them again may succeed.
        await deps.catalog.checksums
          .release(ctx.patch.checksum ?? record.checksum, resourceId)
          .catch(logFailure(logger, "failed resource's checksum claim could not be released"));
        throw new UnrecoverableError(message);
      }
      logger.warn({ err, attempt: job.attemptsMade + 1 }, 'ingest attempt failed; will retry');
      throw err;
    } finally {
      if (downloaded) await fs.rm(path.dirname(downloaded), { recursive: true, force: true });
    }
  };
}

/** The record still exists with this file version (a replaced file's job must not write over the new one). */
async function stillCurrent(catalog: Catalog, id: number, fileVersion: number): Promise<boolean> {
  const cur = await catalog.getResource(id);
  return cur !== undefined && cur.fileVersion === fileVersion;
}
