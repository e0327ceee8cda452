import type { DetailedError } from 'tus-js-client';
import { ApiError, authHeaders } from '../api.js';
import type { Accepted, Transport } from './transport.js';

/**
 * The tus 1.0 endpoint (`POST /v1/libraries/{library}/tus`), through tus-js-client: the
 * file goes up in one streamed PATCH and, when the connection drops, the client asks the
 * API for the offset it holds (HEAD) and sends only the rest. The upload's URL is kept in
 * localStorage under the file's fingerprint until it succeeds, so choosing the same file
 * again after a closed tab or a crashed browser continues where it stopped.
 *
 * The final PATCH answers with `X-Resource-Id` and a `Link` to the job: the same
 * `Accepted` as the multipart transport, and the uploader follows the job the same way.
 * tus-js-client (~60 KiB) is loaded the first time a large file is chosen, not with the page.
 */
export const tusTransport: Transport = {
  name: 'tus',
  async send(file, library, onProgress, signal) {
    const { Upload, DetailedError } = await import('tus-js-client');
    return new Promise<Accepted>((resolve, reject) => {
      const upload = new Upload(file, {
        endpoint: `${location.origin}/v1/libraries/${encodeURIComponent(library)}/tus`,
        headers: authHeaders(),
        metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
        // Waits before each new attempt after a dropped connection; a 4xx other than
        // 409/423 (someone else holds the upload) is final — see onShouldRetry.
        retryDelays: [0, 1000, 3000, 5000, 10_000, 20_000],
        removeFingerprintOnSuccess: true,
        onShouldRetry: (err) => retryable(err.originalResponse?.getStatus() ?? 0),
        onProgress: (sent, total) => onProgress(sent, total),
        onSuccess: ({ lastResponse }) => {
          const resourceId = Number(lastResponse.getHeader('X-Resource-Id'));
          const jobId = /<\/v1\/jobs\/([^>]+)>;\s*rel="job"/.exec(lastResponse.getHeader('Link') ?? '')?.[1];
          if (!Number.isSafeInteger(resourceId) || !jobId)
            reject(new ApiError(lastResponse.getStatus(), 'The API took the upload but named no resource or job.'));
          else resolve({ resourceId, jobId: decodeURIComponent(jobId) });
        },
        onError: (err) => reject(apiErrorOf(err instanceof DetailedError ? err : null, err)),
      });
      signal.addEventListener('abort', () => void upload.abort().then(() => reject(new ApiError(0, 'Upload cancelled.'))), { once: true });
      // A previous attempt at the same file (same name, size, type and modification time)
      // is continued rather than started over.
      void upload
        .findPreviousUploads()
        .then((previous) => {
          if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
          upload.start();
        })
        .catch(() => upload.start());
    });
  },
};

/** A network failure (0), the API unavailable for a moment, or an upload someone else holds right now. */
function retryable(status: number): boolean {
  return status === 0 || status === 409 || status === 423 || status === 429 || status >= 500;
}

/** The problem the API answered (its `detail`), else what the network said. */
function apiErrorOf(detailed: DetailedError | null, err: Error): ApiError {
  const res = detailed?.originalResponse;
  if (!res) return new ApiError(0, `The upload was cut off (${err.message.split('\n')[0] ?? 'network error'}).`);
  let problem: Record<string, unknown> = {};
  try {
    problem = JSON.parse(res.getBody() || '{}') as Record<string, unknown>;
  } catch {
    // Not a problem document (a proxy's page): the status says enough.
  }
  const detail = typeof problem.detail === 'string' ? problem.detail : `The API answered ${res.getStatus()}.`;
  return new ApiError(res.getStatus(), detail, problem);
}
