import { randomInt } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Batch } from '../catalog/batches.js';
import type { Catalog } from '../catalog/catalog.js';
import { ConflictError, InvalidRequestError } from '../errors.js';
import { EXTERNAL_SCAN_JOB, externalScanJobId, externalStepOptions, type ExternalScanPayload } from '../jobs/external.js';
import type { IngestQueue } from '../jobs/queue-table.js';
import { REPROCESS_BATCH_JOB, reprocessBatchJobId, reprocessBatchJobOptions, type ReprocessBatchPayload } from '../jobs/reprocess-batch.js';
import { REPROCESS_JOB, reprocessJobId, reprocessJobOptions, type ReprocessPayload } from '../jobs/reprocess.js';
import type { ResourceRecord } from '../model.js';
import { logFailure, type Logger } from '../logger.js';

export interface RevertRequest {
  reread: boolean;
  renditions: boolean;
}

export interface BulkRevertRequest extends RevertRequest {
  /** A library id or name; undefined with `all`. */
  library?: string | number;
  all: boolean;
  staleOnly: boolean;
}

/** Revert, of one resource or in bulk: validation, records and batches, and the jobs. */
export class ReprocessService {
  /** The ingest queue carries three job names (ingest, reprocess, reprocess-batch); see shared/jobs/reprocess.ts. */
  private readonly queue: Queue;
  /**
   * Where a bulk revert's fan-out steps (and through them its per-resource jobs) go:
   * the bulk lane's queue (shared/jobs/lanes.ts), rate-limited and served by slots of
   * its own. Without it (older callers), the ingest queue, as before lanes existed.
   */
  private readonly bulk: Queue;

  constructor(
    private readonly deps: { catalog: Catalog; ingestQueue: IngestQueue; bulkQueue?: Queue; jobAttempts: number; logger: Logger },
  ) {
    this.queue = deps.ingestQueue as unknown as Queue;
    this.bulk = deps.bulkQueue ?? this.queue;
  }

  /**
   * Queues a revert of one resource. The record goes to `processing` with the revert's
   * job id first, so polling and `?wait` work as for an upload; if the queue refuses, it
   * is put back.
   */
  async revertOne(id: number, req: RevertRequest): Promise<{ record: ResourceRecord; jobId: string }> {
    const rec = await this.deps.catalog.requireResource(id);
    if (rec.status === 'processing') {
      throw new ConflictError(`Resource ${id} is still being processed (job ${rec.jobId}); revert it once that has finished.`, {
        jobId: rec.jobId,
      });
    }
    if (!rec.storageKey) {
      throw new ConflictError(
        `Resource ${id} has no file yet, so there is no metadata to re-read; upload one first (PUT /v1/resources/${id}/file).`,
      );
    }
    // Unique per request: a revert asked for twice runs twice, and both give the same result.
    const jobId = reprocessJobId(id, rec.fileVersion, Date.now() * 100 + randomInt(100));
    const before = { status: rec.status, jobId: rec.jobId, error: rec.error, errorCode: rec.errorCode };
    if (!(await this.deps.catalog.updateResource(id, rec.fileVersion, { status: 'processing', jobId, error: null, errorCode: null }))) {
      throw new ConflictError(`Resource ${id} was replaced or deleted meanwhile; read it again.`);
    }
    const data: ReprocessPayload = { resourceId: id, fileVersion: rec.fileVersion, reread: req.reread, renditions: req.renditions };
    try {
      await this.queue.add(REPROCESS_JOB, data, { ...reprocessJobOptions(this.deps.jobAttempts, false), jobId });
    } catch (err) {
      await this.deps.catalog
        .updateResource(id, rec.fileVersion, before)
        .catch(logFailure(this.deps.logger, 'revert could not be queued and the resource stays processing', { resourceId: id }));
      throw err;
    }
    return { record: { ...rec, status: 'processing', jobId, error: null, errorCode: null }, jobId };
  }

  /** Creates a batch and queues the first step of its fan-out; answers at once. */
  async revertMany(req: BulkRevertRequest): Promise<Batch> {
    const { catalog } = this.deps;
    const library = req.library === undefined ? null : (await catalog.getLibrary(req.library)).id;
    const mappings = await catalog.mappings.get();
    const batch = await catalog.batches.create({
      library,
      staleOnly: req.staleOnly,
      reread: req.reread,
      renditions: req.renditions,
      mappingsVersion: mappings.version,
      indexSize: await catalog.countResources(library ?? undefined),
    });
    await this.queueStep(batch.id, 0);
    return batch;
  }

  async pause(id: number): Promise<Batch> {
    return this.deps.catalog.batches.transition(id, 'paused', ['running']);
  }

  /** Back to running, with a new fan-out step from where the cursor stands. */
  async resume(id: number): Promise<Batch> {
    const b = await this.deps.catalog.batches.transition(id, 'running', ['paused']);
    // A chain of steps of its own: numbering from the clock (×1000) never meets the
    // ids of the earlier chain, which stay in Redis for a day after completing.
    if (b.kind === 'scan') {
      // An external library's scan (shared/external/scan-service.ts) goes on with its own steps.
      const step = Date.now() * 1000;
      await this.bulk.add(EXTERNAL_SCAN_JOB, { batchId: id, step } satisfies ExternalScanPayload, {
        ...externalStepOptions(),
        jobId: externalScanJobId(id, step),
      });
    } else await this.queueStep(id, Date.now() * 1000);
    return b;
  }

  /** Stops the fan-out; the batch's queued jobs end without work when their turn comes. */
  async cancel(id: number): Promise<Batch> {
    return this.deps.catalog.batches.transition(id, 'cancelled', ['running', 'paused']);
  }

  async queueStep(batchId: number, step: number, delay = 0): Promise<void> {
    const data: ReprocessBatchPayload = { batchId, step };
    await this.bulk.add(REPROCESS_BATCH_JOB, data, { ...reprocessBatchJobOptions(), jobId: reprocessBatchJobId(batchId, step), delay });
  }
}

/** `{"reread": bool, "renditions": bool}`, both optional; anything else is a 400 naming it. */
export function parseRevertRequest(body: unknown): RevertRequest {
  const o = asObject(body, '{"reread": false, "renditions": false}');
  const problems = unknownMembers(o, ['reread', 'renditions']);
  const reread = bool(o, 'reread', false, problems);
  const renditions = bool(o, 'renditions', false, problems);
  if (problems.length) throw new InvalidRequestError(problems.join(' '), { problems });
  return { reread, renditions };
}

/** `{"library": "photos" | 3}` or `{"all": true}`, plus `staleOnly` (default true), `reread`, `renditions`. */
export function parseBulkRevertRequest(body: unknown): BulkRevertRequest {
  const o = asObject(body, '{"library": "photos"} or {"all": true}');
  const problems = unknownMembers(o, ['library', 'all', 'staleOnly', 'reread', 'renditions']);
  const all = bool(o, 'all', false, problems);
  const library = o.library;
  if (
    library !== undefined &&
    !(typeof library === 'string' && library !== '') &&
    !(typeof library === 'number' && Number.isSafeInteger(library))
  ) {
    problems.push(`Expected library to be a library id or name but received ${JSON.stringify(library)}.`);
  }
  if ((library === undefined) === !all) {
    problems.push('Name one library ({"library": "photos"}) or ask for every library ({"all": true}), not both and not neither.');
  }
  const out = {
    ...(library !== undefined ? { library: library as string | number } : {}),
    all,
    staleOnly: bool(o, 'staleOnly', true, problems),
    reread: bool(o, 'reread', false, problems),
    renditions: bool(o, 'renditions', false, problems),
  };
  if (problems.length) throw new InvalidRequestError(problems.join(' '), { problems });
  return out;
}

function asObject(body: unknown, example: string): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidRequestError(`Expected a JSON object like ${example} but received ${JSON.stringify(body).slice(0, 60)}.`);
  return body as Record<string, unknown>;
}

function unknownMembers(o: Record<string, unknown>, known: string[]): string[] {
  return Object.keys(o)
    .filter((k) => !known.includes(k))
    .map((k) => `Unknown member ${JSON.stringify(k)}; expected ${known.map((x) => `"${x}"`).join(', ')}.`);
}

function bool(o: Record<string, unknown>, name: string, def: boolean, problems: string[]): boolean {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') {
    problems.push(`Expected ${name} to be true or false but received ${JSON.stringify(v)}.`);
    return def;
  }
  return v;
}
