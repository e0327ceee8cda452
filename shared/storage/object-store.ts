import type { Readable } from 'node:stream';

/**
 * The small interface in front of object storage. One implementation per backend
 * (`fs-store.ts`, `s3-store.ts`), both held to `test/contract/object-store.test.ts`.
 * Driver error codes are translated inside each adapter: nothing above this file
 * knows S3 or errno names.
 */
export interface ObjectStore {
  readonly driver: 'fs' | 's3';
  /**
   * Stream `body` to `key`. Memory stays bounded whatever the size. The object becomes
   * visible only when the whole stream was written; if the stream errors (or `signal`
   * aborts) the write is abandoned and nothing is left under `key`.
   */
  put(key: string, body: Readable | Buffer, meta?: PutMeta): Promise<PutResult>;
  /** Read an object, or the inclusive byte range `[start, end]` of it. Throws ObjectNotFoundError. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * The whole object with its size and date, from one request, where the backend has no
   * cheaper way to both (S3: one GET, where head + get are two round trips). The caller
   * must read or destroy `body`. Throws ObjectNotFoundError.
   */
  open?(key: string): Promise<{ info: ObjectInfo; body: Readable }>;
  /** Size and content type. Throws ObjectNotFoundError. */
  head(key: string): Promise<ObjectInfo>;
  /** Remove `key`; removing what is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, in key order, paged internally. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * The folders right under `prefix` (which ends in "/"), each as a full prefix ending in
   * "/", in key order: one listing with a delimiter on S3, one readdir on fs. Lets a
   * caller visit only the shards that exist instead of asking for each of 4096.
   */
  folders(prefix: string): AsyncIterable<string>;
  /** A path readable on this machine, where the backend has one (fs); otherwise undefined. */
  localPath(key: string): string | undefined;
  /** Throws StorageUnavailableError unless the backend answers (readiness). */
  ping(): Promise<void>;
  /**
   * Remove partial writes under `prefix` last touched before `olderThan`, which a
   * killed process leaves (fs temp files); returns how many. S3 has its own kind
   * (`incompleteUploads`), which a caller must check against direct uploads first.
   */
  removeAbandonedWrites?(prefix: string, olderThan: Date): Promise<number>;
  /**
   * Multipart uploads under `prefix` started and neither completed nor aborted (S3).
   * Their parts take space but show in no listing; a process that died mid-upload, or a
   * direct-upload client that never finished, leaves them.
   */
  incompleteUploads?(prefix: string): AsyncIterable<IncompleteUpload>;
  /** Abort one, dropping its parts; one already gone is not an error. */
  abortUpload?(upload: IncompleteUpload): Promise<void>;
}

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface PutMeta {
  contentType?: string;
  signal?: AbortSignal;
}

export interface PutResult {
  key: string;
  size: number;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  contentType?: string;
  lastModified?: Date;
}

export class ObjectNotFoundError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`No object at "${key}".`);
    this.name = 'ObjectNotFoundError';
    this.key = key;
  }
}

/** Keys are written by us, never from user input, but check them anyway: no traversal, no empty segments. */
export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.length > 900 ||
    key.startsWith('/') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    /[\0\\]/.test(key)
  ) {
    throw new Error(`Invalid object key "${key}": expected non-empty "/"-separated segments without "." or "..".`);
  }
}
