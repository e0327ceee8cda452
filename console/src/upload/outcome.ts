import { ApiError, errorText, getJson, type Job } from '../api.js';

export type Outcome = { kind: 'ready'; resourceId: number } | { kind: 'duplicate'; of: number[] } | { kind: 'failed'; reason: string };

/**
 * Follows an upload's job to its outcome by polling `GET /v1/jobs/{id}`, which answers 200
 * in every state — a duplicate the library's policy removed, or the reason processing
 * failed, included. (`/wait` would hold the request instead, but answers a failed job
 * with its error status, which a browser logs as a failed request.) Every half second at
 * first, then less often.
 */
export async function followJob(jobId: string, signal: AbortSignal): Promise<Outcome> {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  for (let delay = 300; ; delay = Math.min(delay * 1.5, 3000)) {
    if (signal.aborted) throw new ApiError(0, 'Cancelled.');
    const job = await getJson<Job>(path, { signal }).catch((err: ApiError) => {
      // The API not answering for a moment is not the file's outcome.
      if (err.status === 0 || err.status >= 500) return undefined;
      throw err;
    });
    if (job?.state === 'completed' || job?.state === 'failed') return outcomeOf(job);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export function outcomeOf(job: Job): Outcome {
  if (job.duplicateOf?.length) return { kind: 'duplicate', of: job.duplicateOf };
  if (job.resource.reused) return { kind: 'duplicate', of: [job.resource.id] };
  if (job.state === 'failed') return { kind: 'failed', reason: errorText(job.error) || 'Processing failed.' };
  return { kind: 'ready', resourceId: job.resource.id };
}
