import { randomBytes } from 'node:crypto';
import { InvalidRequestError, NotFoundError, PayloadTooLargeError, StorageUnavailableError } from '../errors.js';
import { logFailure, type Logger } from '../logger.js';
import type { Library, ResourceRecord } from '../model.js';
import type { RedisConnection } from '../redis.js';
import { originalKey } from '../storage/layout.js';
import type { S3Presigner } from '../storage/s3-presigner.js';
import { extensionOf, sniffType } from '../upload/sniff.js';
import { UploadFieldsBuilder, type UploadFields } from '../upload/upload-fields.js';
import { PendingDirectUploads, type PendingDirectUpload } from './pending-direct-uploads.js';
import type { StagedFile, UploadService } from './upload-service.js';

/** S3 allows at most 10,000 parts per upload. */
const MAX_PARTS = 10_000;
/** Bytes read back from storage to sniff the type, as the streaming upload does. */
const SNIFF_BYTES = 4100;
/** How long after its URLs expire an upload can still be completed: a PUT started just before may be running. */
const COMPLETE_GRACE_MS = 3600_000;
/** `du-<resourceId>-<token>`: the resource id finds the pending upload, the token proves the caller was given it. */
const DIRECT_UPLOAD_ID = /^du-(\d{1,15})-([0-9a-f]{16})$/;

export interface DirectUploadRequest {
  fileName: string;
  size: number;
  /** Required: the API never sees the bytes, so the worker checks them against this. */
  sha256: string;
  contentType?: string;
  /** Upload fields (title, tags, visibility, no_exif, created, modified), as strings. */
  fields?: Record<string, string | string[]>;
}

export interface DirectUploadTicket {
  id: string;
  resourceId: number;
  partSize: number;
  parts: { partNumber: number; url: string }[];
  expiresAt: string;
}

/**
 * The large-file path: presigned multipart upload straight to S3/MinIO, so gigabytes do
 * not cross the API. `start` reserves a resource id and signs one URL per part; the
 * client PUTs the parts and calls `complete` with their ETags; then the resource is
 * created like any upload (status `processing`, an ingest job), and the worker streams
 * the stored object through SHA-256 before anything else (worker/steps/verify-checksum.ts):
 * a file that is not what was declared fails with that reason and no claim on a checksum.
 * Pending uploads live in Redis (PendingDirectUploads). `cancel` aborts one; one whose
 * URLs expired is aborted by the orphan sweeper (or by a late `complete`).
 */
export class DirectUploadService {
  private readonly pending: PendingDirectUploads;

  constructor(
    private readonly deps: {
      /** The commit every upload ends in; its catalog, store and limits are the ones used here. */
      uploads: UploadService;
      redis: RedisConnection;
      redisPrefix: string;
      presigner: S3Presigner | undefined;
      logger: Logger;
      partSize: number;
      expirySeconds: number;
    },
  ) {
    this.pending = new PendingDirectUploads(deps.redis, deps.redisPrefix);
  }

  async start(library: Library, req: DirectUploadRequest): Promise<DirectUploadTicket> {
    const presigner = this.presigner();
    if (!Number.isSafeInteger(req.size) || req.size < 1)
      throw new InvalidRequestError(`Expected size to be a positive integer of bytes but received ${JSON.stringify(req.size)}.`);
    const limit = this.deps.uploads.limitOf(library);
    if (req.size > limit) throw new PayloadTooLargeError(limit);
    if (!/^[0-9a-f]{64}$/i.test(req.sha256 ?? ''))
      throw new InvalidRequestError(`Expected sha256 to be 64 hex digits (the file's SHA-256) but received ${JSON.stringify(req.sha256)}.`);
    if (typeof req.fileName !== 'string' || req.fileName === '' || req.fileName.length > 1000)
      throw new InvalidRequestError("Expected fileName to be the file's name (1-1000 characters).");
    const fields = new UploadFieldsBuilder();
    for (const [name, value] of Object.entries(req.fields ?? {}))
      for (const v of Array.isArray(value) ? value : [value]) fields.add(name, String(v));
    fields.build();

    const resourceId = await this.deps.uploads.catalog.allocateResourceId();
    const key = originalKey(resourceId, 1, extensionOf(req.fileName));
    const expiresAt = Date.now() + this.deps.expirySeconds * 1000;
    const uploadId = await presigner.start(key);
    // At least the configured part size, and large enough that the file fits 10,000 parts.
    const partSize = Math.max(this.deps.partSize, Math.ceil(req.size / MAX_PARTS / 1048576) * 1048576);
    const count = Math.max(1, Math.ceil(req.size / partSize));
    const token = randomBytes(8).toString('hex');
    const upload: PendingDirectUpload = {
      token,
      resourceId,
      key,
      uploadId,
      library: library.id,
      fileName: req.fileName,
      size: req.size,
      sha256: req.sha256.toLowerCase(),
      contentType: req.contentType ?? '',
      fields: JSON.stringify(req.fields ?? {}),
      // A PUT started just before its URL expired may still be running.
      completeBy: expiresAt + COMPLETE_GRACE_MS,
    };
    try {
      const urls = await presigner.partUrls(key, uploadId, count, this.deps.expirySeconds);
      await this.pending.save(upload);
      return {
        id: `du-${resourceId}-${token}`,
        resourceId,
        partSize,
        parts: urls.map((url, i) => ({ partNumber: i + 1, url })),
        expiresAt: new Date(expiresAt).toISOString(),
      };
    } catch (err) {
      await this.abort(upload).catch(
        logFailure(this.deps.logger, 'direct upload could not be aborted; the orphan sweeper removes it', { resourceId }),
      );
      throw err;
    }
  }

  async complete(id: string, parts: { partNumber: number; etag: string }[]): Promise<ResourceRecord[]> {
    const presigner = this.presigner();
    // One completion per upload, even when a client retries it concurrently.
    const s = await this.take(id);
    if (Date.now() > s.completeBy) {
      await this.abort(s).catch(
        logFailure(this.deps.logger, 'expired direct upload could not be aborted; the orphan sweeper removes it', {
          resourceId: s.resourceId,
        }),
      );
      throw new NotFoundError('direct upload', id);
    }
    try {
      await presigner.complete(s.key, s.uploadId, parts);
    } catch (err) {
      // The client may fix its part list (or wait for the store) and call again: the upload is still open.
      await this.pending.save(s);
      if (err instanceof StorageUnavailableError) throw err;
      throw new InvalidRequestError(
        `S3 refused to complete the upload: ${(err as Error).message}. Send every part's number and the ETag its PUT answered.`,
      );
    }
    let staged: StagedFile;
    let fields: UploadFields;
    let library: Library;
    try {
      const stored = await this.deps.uploads.store.head(s.key);
      if (stored.size !== s.size)
        throw new InvalidRequestError(`The uploaded parts add up to ${stored.size} bytes but ${s.size} were declared; start a new upload.`);
      const builder = new UploadFieldsBuilder();
      for (const [name, value] of Object.entries(JSON.parse(s.fields) as Record<string, string | string[]>))
        for (const v of Array.isArray(value) ? value : [value]) builder.add(name, String(v));
      fields = builder.build();
      library = await this.deps.uploads.catalog.getLibrary(s.library);
      const sniffed = await sniffType(await this.head(s.key), s.fileName);
      staged = {
        id: s.resourceId,
        key: s.key,
        fileName: s.fileName,
        declaredType: s.contentType || null,
        size: s.size,
        checksum: s.sha256,
        sniffed,
      };
    } catch (err) {
      // Nothing was recorded, so the completed object must not stay either.
      await this.deps.uploads.store.delete(s.key).catch(
        logFailure(this.deps.logger, "refused direct upload's object could not be removed; the orphan sweeper removes it", {
          resourceId: s.resourceId,
        }),
      );
      throw err;
    }
    // The commit removes the object itself when it fails.
    return this.deps.uploads.commit([staged], fields, library, DIRECT_SOURCE);
  }

  /** Abort a pending upload: its parts are dropped and its id is gone. */
  async cancel(id: string): Promise<void> {
    this.presigner();
    const s = await this.take(id);
    try {
      await this.abort(s);
    } catch (err) {
      // The store did not answer: the upload stays pending, and cancelling again may work.
      await this.pending.save(s);
      throw err;
    }
  }

  private async take(id: string): Promise<PendingDirectUpload> {
    const m = DIRECT_UPLOAD_ID.exec(id);
    const s = m ? await this.pending.take(Number(m[1]), m[2]!) : undefined;
    if (!s) throw new NotFoundError('direct upload', id);
    return s;
  }

  /** Abort the multipart upload; one S3 no longer has (aborted before, or expired by a lifecycle rule) is done too. */
  private async abort(s: PendingDirectUpload): Promise<void> {
    try {
      await this.presigner().abort(s.key, s.uploadId);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'NoSuchUpload') throw err;
    }
  }

  private presigner(): S3Presigner {
    if (!this.deps.presigner)
      throw new InvalidRequestError(
        'Direct uploads go straight to S3 and need STORAGE_DRIVER=s3; with local storage, upload through POST /v1/libraries/{library}/files.',
      );
    return this.deps.presigner;
  }

  private async head(key: string): Promise<Buffer> {
    const stream = await this.deps.uploads.store.get(key);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      n += c.length;
      if (n >= SNIFF_BYTES) break;
    }
    (stream as { destroy?: () => void }).destroy?.();
    return Buffer.concat(chunks).subarray(0, SNIFF_BYTES);
  }
}

/** `source` of resources uploaded directly to S3: the worker verifies their checksum. */
export const DIRECT_SOURCE = 'direct';

/** The library a pending direct upload goes to (undefined: unknown, expired or a wrong token), for checking a scoped key before `complete`. */
export async function directUploadLibrary(redis: RedisConnection, prefix: string, id: string): Promise<number | undefined> {
  const m = DIRECT_UPLOAD_ID.exec(id);
  if (!m) return undefined;
  const pending = await new PendingDirectUploads(redis, prefix).get(Number(m[1]));
  return pending && pending.token === m[2] ? pending.library : undefined;
}
