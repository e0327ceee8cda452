/**
 * How one file's bytes reach the API. The uploader (uploader.ts) picks a transport per
 * file; each answers the resource and job the API created, or throws an ApiError.
 * Two exist: multipart (multipart.ts) and tus for large files (tus.ts), chosen by size in
 * `transportFor` (uploader.ts).
 */
export interface Accepted {
  resourceId: number;
  jobId: string;
}

export interface Transport {
  readonly name: string;
  send(file: File, library: string, onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<Accepted>;
}
