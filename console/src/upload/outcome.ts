import { ApiError, authHeaders, errorText, getJson, type Job } from '../api.js';

export type Outcome = { kind: 'ready'; resourceId: number } | { kind: 'duplicate'; of: number[] } | { kind: 'failed'; reason: string };

/**
 * Follows an upload's job to its outcome: `/wait` holds the request until the job ends
 * (204 when it completed), and the job's state says what became of a failure — a
 * duplicate the library's policy removed, or the reason processing failed.
 */
export async function followJob(jobId: string, signal: AbortSignal): Promise<Outcome> {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  for (;;) {
    if (signal.aborted) throw new ApiError(0, 'Cancelled.');
    const res = await fetch(`${path}/wait?timeout=20`, { headers: authHeaders(), signal }).catch(() => undefined);
    if (res && res.status !== 202) {
      const job = await getJson<Job>(path, { signal });
      return outcomeOf(job);
    }
    if (!res) await new Promise((r) => setTimeout(r, 1000));
  }
}

export function outcomeOf(job: Job): Outcome {
  if (job.duplicateOf?.length) return { kind: 'duplicate', of: job.duplicateOf };
  if (job.resource.reused) return { kind: 'duplicate', of: [job.resource.id] };
  if (job.state === 'failed') return { kind: 'failed', reason: errorText(job.error) || 'Processing failed.' };
  return { kind: 'ready', resourceId: job.resource.id };
}
