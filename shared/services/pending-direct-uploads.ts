import type { RedisConnection } from '../redis.js';
import { catalogKeys } from '../catalog/keys.js';

/** A direct upload between its start and its completion: what `complete` needs, in Redis. */
export interface PendingDirectUpload {
  /** The secret half of the upload's id (`du-<resourceId>-<token>`). */
  token: string;
  resourceId: number;
  key: string;
  uploadId: string;
  library: number;
  fileName: string;
  size: number;
  sha256: string;
  contentType: string;
  /** Upload fields as JSON. */
  fields: string;
  /** Epoch ms after which it can no longer be completed: its URLs have expired. */
  completeBy: number;
}

/**
 * How long a pending upload is remembered past `completeBy`, so that a sweep in that time
 * aborts it as expired at once; after that the multipart age limit catches it.
 */
const KEPT_AFTER_EXPIRY_MS = 7 * 86_400_000;

/**
 * Pending direct uploads, one key per upload under its resource id (ids are never
 * reused), so the orphan sweeper can tell a multipart upload someone is still filling
 * from one nobody will complete.
 */
export class PendingDirectUploads {
  private readonly keys: ReturnType<typeof catalogKeys>;

  constructor(
    private readonly redis: RedisConnection,
    redisPrefix: string,
  ) {
    this.keys = catalogKeys(redisPrefix);
  }

  async save(upload: PendingDirectUpload): Promise<void> {
    await this.redis.set(
      this.keys.directUpload(upload.resourceId),
      JSON.stringify(upload),
      'PXAT',
      upload.completeBy + KEPT_AFTER_EXPIRY_MS,
    );
  }

  async get(resourceId: number): Promise<PendingDirectUpload | undefined> {
    const raw = await this.redis.get(this.keys.directUpload(resourceId));
    return raw ? (JSON.parse(raw) as PendingDirectUpload) : undefined;
  }

  /**
   * Remove and return the upload the id names, if it is pending: only one of concurrent
   * callers (a retried completion, a cancel) gets it.
   */
  async take(resourceId: number, token: string): Promise<PendingDirectUpload | undefined> {
    const seen = await this.get(resourceId);
    if (seen?.token !== token) return undefined;
    const raw = await this.redis.getdel(this.keys.directUpload(resourceId));
    return raw ? (JSON.parse(raw) as PendingDirectUpload) : undefined;
  }

  /** Forget it: its multipart upload was aborted. */
  async remove(resourceId: number): Promise<void> {
    await this.redis.del(this.keys.directUpload(resourceId));
  }
}
