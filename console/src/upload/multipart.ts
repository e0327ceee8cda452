import { ApiError, authHeaders } from '../api.js';
import type { Accepted, Transport } from './transport.js';

/**
 * `POST /v1/libraries/{library}/files`, one multipart request per file. XMLHttpRequest,
 * not fetch: only XHR reports upload progress.
 */
export const multipartTransport: Transport = {
  name: 'multipart',
  send(file, library, onProgress, signal) {
    return new Promise<Accepted>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `/v1/libraries/${encodeURIComponent(library)}/files`);
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.responseType = 'json';
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onerror = () => reject(new ApiError(0, 'The upload was cut off (network error).'));
      xhr.onabort = () => reject(new ApiError(0, 'Upload cancelled.'));
      xhr.onload = () => {
        const body = (xhr.response ?? {}) as Record<string, unknown>;
        if (xhr.status !== 202) {
          reject(new ApiError(xhr.status, typeof body.detail === 'string' ? body.detail : `${xhr.status} ${xhr.statusText}`, body));
          return;
        }
        const first = (body.resources as { id: number; jobId: string }[] | undefined)?.[0];
        if (!first) reject(new ApiError(xhr.status, 'The API accepted the upload but named no resource.'));
        else resolve({ resourceId: first.id, jobId: first.jobId });
      };
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  },
};
