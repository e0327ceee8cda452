import type { Context } from 'hono';
import { AppError, InvalidRequestError, type ErrorCode } from '../shared/errors.js';
import type { JobWaiter, WaitTarget } from '../shared/jobs/job-waiter.js';
import type { ResourceRecord } from '../shared/model.js';
import { problemResponse, STATUS_BY_CODE } from './error-handler.js';

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
    throw new InvalidRequestError(`Expected ${param} to be a whole number of seconds (0-${maxSeconds}) but received ${JSON.stringify(raw.slice(0, 20))}.`);
  }
  return Math.min(Number(raw), maxSeconds);
}

/**
 * Waits for the jobs, then answers as DESIGN.md says: 204 when every resource is
 * ready; the failure's status and reason when one failed; else 202 with the state.
 */
export async function waitAndRespond(
  c: Context,
  waiter: JobWaiter,
  targets: WaitTarget[],
  seconds: number,
  pending: (records: (ResourceRecord | undefined)[]) => Response | Promise<Response>,
): Promise<Response> {
  const ac = new AbortController();
  // Stop waiting when the client hangs up.
  // The response's 'close' before we answered means the connection is gone (the
  // request's 'close' would also fire when its body was merely consumed).
  const outgoing = (c.env as { outgoing?: NodeJS.EventEmitter } | undefined)?.outgoing;
  const onClose = () => ac.abort();
  outgoing?.once('close', onClose);
  try {
    const out = await waiter.wait(targets, seconds * 1000, ac.signal);
    if (!out.done) return pending(out.records);
    const failed = out.records.find((r) => r.status === 'failed');
    if (failed) {
      const code = (failed.errorCode ?? 'unreadable_file') as ErrorCode;
      const status = STATUS_BY_CODE[code] ?? 422;
      return problemResponse(c, {
        status,
        code,
        detail: failed.error ?? 'Processing failed.',
        extra: { resource: failed.id, jobId: failed.jobId },
      });
    }
    if (out.records.length < targets.length) {
      throw new AppError('not_found', 'The resource was deleted while it was being processed.');
    }
    return c.body(null, 204);
  } finally {
    outgoing?.off('close', onClose);
  }
}
