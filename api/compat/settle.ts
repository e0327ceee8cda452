import type { Context } from 'hono';
import { AppError, type ErrorCode } from '../../shared/errors.js';
import type { ResourceRecord } from '../../shared/model.js';
import { nodeIo, type AppDeps } from '../deps.js';
import { failureOf } from '../wait.js';

export interface Settled {
  /** Every resource left `processing` within the wait. */
  done: boolean;
  /** What each upload resolved to: itself, or the existing resource a `reuse` duplicate became. */
  ids: number[];
  /** Current records of `ids` (undefined for one deleted meanwhile). */
  records: (ResourceRecord | undefined)[];
}

/**
 * Waits (up to `seconds`) for the resources to be processed, as the native `?wait`
 * does: the clients of these systems expect the file to be usable — or the error
 * reported — when the call returns. A failure is thrown as the typed error it was
 * recorded with (duplicate, unreadable file, …) for the face to render in its shape.
 */
export async function settle(c: Context, deps: AppDeps, records: ResourceRecord[], seconds: number): Promise<Settled> {
  const ac = new AbortController();
  // The response's 'close' before we answered: the client is gone, stop waiting.
  const outgoing = nodeIo(c).outgoing;
  const onClose = () => ac.abort();
  outgoing?.once('close', onClose);
  try {
    const targets = records.map((r) => ({ resourceId: r.id, fileVersion: r.fileVersion, jobId: r.jobId }));
    const out = await deps.waiter.wait(targets, seconds * 1000, ac.signal);
    if (!out.done) return { done: false, ids: records.map((r) => r.id), records: out.states.map((s, i) => s.record ?? records[i]) };
    const ids: number[] = [];
    for (const s of out.states) {
      const failure = failureOf(s);
      if (failure) throw new AppError(failure.code as ErrorCode, failure.detail, { resource: s.target.resourceId, ...failure.extra });
      ids.push(s.outcome?.kind === 'reused' ? s.outcome.resolvedTo : s.target.resourceId);
    }
    const changed = ids.some((id, i) => id !== records[i]!.id);
    const current = changed ? await deps.catalog.getResources(ids) : out.states.map((s) => s.record);
    return { done: true, ids, records: current };
  } finally {
    outgoing?.off('close', onClose);
  }
}
