/**
 * How one file's bytes reach the API. The uploader (uploader.ts) picks a transport per
 * file; each answers the resource and job the API created, or throws an ApiError.
 * Adding tus for large files is a second implementation of this interface, chosen in
 * `transportFor` (uploader.ts) — nothing else changes.
 */
export interface Accepted {
  resourceId: number;
  jobId: string;
}

export interface Transport {
  readonly name: string;
  send(file: File, library: string, onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<Accepted>;
}
