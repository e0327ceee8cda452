import { UnrecoverableError, type Job } from 'bullmq';
import type { BatchOutcome } from '../../shared/catalog/batches.js';
import type { ReprocessPayload } from '../../shared/jobs/reprocess.js';
import { readRecordCopy } from '../../shared/services/record-copy.js';
import { applyMappings } from '../steps/apply-mappings.js';
import type { IngestStep } from '../steps/step.js';
import { storedMetadata } from '../steps/stored-metadata.js';
import { ingestProcessor, INGEST_STEPS, type IngestDeps } from './ingest.js';

/**
 * Steps a revert never runs: de-duplication judged the bytes when they arrived, and a
 * revert must not delete a resource as a duplicate of another one uploaded since.
 */
const NEVER_ON_REVERT = new Set(['dedupe']);
const isRenderStep = (s: IngestStep) => s.name === 'renditions' || s.name.startsWith('render');

/**
 * Processor of the `reprocess` job (shared/jobs/reprocess.ts): the ingest steps again
 * over the stored original — as if it had been uploaded again without `no_exif` — or,
 * on the fast path, the current mappings over the stored tag set: no download, no
 * exiftool. The fast path is taken unless `reread` was asked for or there is no stored
 * tag set to map (`no_exif`, a failed resource, one processed before extraction existed).
 *
 * Idempotent like ingest: the result is recomputed and written guarded by the file
 * version; a bulk revert counts each resource once, however often its job runs.
 */
export function reprocessProcessor(deps: IngestDeps) {
  return async (job: Job<ReprocessPayload>): Promise<void> => {
    const { resourceId, fileVersion, batchId } = job.data;
    const count = async (outcome: BatchOutcome) => {
      if (batchId !== undefined) await deps.catalog.batches.count(batchId, resourceId, outcome);
    };
    if (batchId !== undefined) {
      const batch = await deps.catalog.batches.get(batchId);
      // Cancelled: the queued rest of the batch ends here, at the cost of one read each.
      if (!batch || batch.state === 'cancelled') return;
    }
    const record = await deps.catalog.getResource(resourceId);
    // Replaced or deleted meanwhile, or a resource with metadata and no file yet (a
    // compat face's create_resource): nothing to re-read.
    if (!record || record.fileVersion !== fileVersion || !record.storageKey) {
      await count('skipped');
      return;
    }

    let reread = job.data.reread || record.noExif || record.mappingsVersion === 0;
    let steps: IngestStep[];
    if (!reread) {
      const copy = await readRecordCopy(deps.store, resourceId);
      if (copy && Object.keys(copy.metadata).length > 0) {
        steps = [storedMetadata(copy.metadata), applyMappings, ...(job.data.renditions ? INGEST_STEPS.filter(isRenderStep) : [])];
      } else {
        reread = true;
      }
    }
    if (reread) {
      steps = INGEST_STEPS.filter((s) => !NEVER_ON_REVERT.has(s.name) && (job.data.renditions || !isRenderStep(s)));
      // "As if uploaded again": a revert reads the embedded metadata even where the
      // upload said no_exif — that is what ResourceSpace's revert is for.
      if (record.noExif) await deps.catalog.updateResource(resourceId, fileVersion, { noExif: false });
    }

    try {
      await ingestProcessor(deps, steps!)(job);
    } catch (err) {
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) await count('failed');
      throw err;
    }
    await count('done');
  };
}
