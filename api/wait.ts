import type { Context } from 'hono';
import { InvalidRequestError, type ErrorCode } from '../shared/errors.js';
import type { JobWaiter, TargetState, WaitTarget } from '../shared/jobs/job-waiter.js';
import { problemResponse, STATUS_BY_CODE } from './error-handler.js';
import { nodeIo } from './deps.js';

/**
 * How long the client asked to wait: `?wait=N` (or `?timeout=N` on /wait), else
 * `Prefer: wait=N` (RFC 7240). Capped at WAIT_MAX_SECONDS; undefined when not asked.
 */
export function requestedWaitSeconds(c: Context, maxSeconds: number, param = 'wait'): number | undefined {
  const q = c.req.query(param);
  let raw: string | undefined = q;
  if (raw === undefined) {
    const prefer = c.req.header('prefer');
    raw = prefer ? /(?:^|[,;]\s*)wait=(\d+)/i.exec(prefer)?.[1] : undefined;
    if (raw === undefined) return undefined;
  }
  if (!/^\d{1,6}$/.test(raw)) {
    throw new InvalidRequestError(
      `Expected ${param} to be a whole number of seconds (0-${maxSeconds}) but received ${JSON.stringify(raw.slice(0, 20))}.`,
    );
  }
  return Math.min(Number(raw), maxSeconds);
}

/**
 * Waits for the jobs, then answers as docs/api.md ("Upload", "Jobs") says: 204 when every resource is
 * ready (a duplicate resolved to an existing resource counts; `X-Resource-Id` then
 * names the resources the upload resolved to); the failure's status and reason when
 * one failed; else 202 with the state.
 */
export async function waitAndRespond(
  c: Context,
  waiter: JobWaiter,
  targets: WaitTarget[],
  seconds: number,
  pending: (states: TargetState[]) => Response | Promise<Response>,
): Promise<Response> {
  const ac = new AbortController();
  // The response's 'close' before we answered means the connection is gone (the
  // request's 'close' would also fire when its body was merely consumed).
  const outgoing = nodeIo(c).outgoing;
  const onClose = () => ac.abort();
  outgoing?.once('close', onClose);
  try {
    const out = await waiter.wait(targets, seconds * 1000, ac.signal);
    if (!out.done) return pending(out.states);
    const resolved: number[] = [];
    for (const s of out.states) {
      const failure = failureOf(s);
      if (failure) {
        return problemResponse(c, {
          status: STATUS_BY_CODE[failure.code] ?? 422,
          code: failure.code,
          detail: failure.detail,
          extra: { resource: s.target.resourceId, jobId: s.target.jobId, ...failure.extra },
        });
      }
      resolved.push(s.outcome?.kind === 'reused' ? s.outcome.resolvedTo : s.target.resourceId);
    }
    c.header('X-Resource-Id', resolved.join(','));
    return c.body(null, 204);
  } finally {
    outgoing?.off('close', onClose);
  }
}

/** Why a finished target is not a success, or undefined when it is one. */
export function failureOf(s: TargetState): { code: ErrorCode; detail: string; extra: Record<string, unknown> } | undefined {
  if (s.record) {
    if (s.record.status !== 'failed') return undefined;
    return { code: (s.record.errorCode ?? 'unreadable_file') as ErrorCode, detail: s.record.error ?? 'Processing failed.', extra: {} };
  }
  if (s.outcome?.kind === 'duplicate') return { code: 'duplicate', detail: s.outcome.message, extra: { matches: s.outcome.matches } };
  if (s.outcome?.kind === 'reused') return undefined;
  return { code: 'not_found', detail: 'The resource was deleted while it was being processed.', extra: {} };
}
