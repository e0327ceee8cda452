import type { Batch } from '../../shared/catalog/batches.js';

/**
 * A batch as clients see it, with its progress and an ETA. Until the fan-out has read
 * the whole index, the total is an estimate: the share of resources that needed a revert
 * so far, over what is left of the index.
 */
export function batchView(b: Batch, now = Date.now()) {
  const processed = b.done + b.failed + b.skipped;
  const remainingIndex = Math.max(0, b.indexSize - b.scanned);
  const total = b.enqueuedAll ? b.enqueued : Math.round(b.enqueued + remainingIndex * (b.scanned > 0 ? b.enqueued / b.scanned : 1));
  const elapsed = (now - Date.parse(b.created)) / 1000;
  const rate = elapsed > 0 ? processed / elapsed : 0;
  const running = b.state === 'running';
  const etaSeconds = running && rate > 0 ? Math.ceil(Math.max(0, total - processed) / rate) : null;
  return {
    id: b.id,
    ...(b.kind ? { kind: b.kind } : {}),
    state: b.state,
    ...(b.error ? { error: b.error } : {}),
    library: b.library,
    staleOnly: b.staleOnly,
    reread: b.reread,
    renditions: b.renditions,
    mappingsVersion: b.mappingsVersion,
    total,
    totalIsEstimate: !b.enqueuedAll,
    done: b.done,
    failed: b.failed,
    skipped: b.skipped,
    ...(b.kind === 'scan' ? { missing: b.missing ?? 0, deleted: b.deleted ?? 0 } : {}),
    queued: b.enqueued - processed,
    scanned: b.scanned,
    indexSize: b.indexSize,
    percent: b.state === 'completed' ? 100 : total > 0 ? Math.min(99.9, Math.floor((processed / total) * 1000) / 10) : 0,
    ratePerSecond: Math.round(rate * 10) / 10,
    eta: etaSeconds === null ? null : { seconds: etaSeconds, at: new Date(now + etaSeconds * 1000).toISOString() },
    created: b.created,
    finished: b.finished,
    links: { self: `/v1/batches/${b.id}`, pause: `/v1/batches/${b.id}/pause`, resume: `/v1/batches/${b.id}/resume` },
  };
}
