import type { IncomingMessage } from 'node:http';
import { addAbortSignal, Readable, Transform } from 'node:stream';
import type { BucketItem, Client } from 'minio';
import type { S3StorageConfig } from '../config.js';
import { StorageUnavailableError } from '../errors.js';
import {
  assertValidKey,
  ObjectNotFoundError,
  type ByteRange,
  type IncompleteUpload,
  type ObjectInfo,
  type ObjectStore,
  type PutMeta,
  type PutResult,
} from './object-store.js';
import { createS3Client } from './s3-client.js';

/** S3 numbers parts 1..10000; beyond that a multipart upload cannot grow. */
const MAX_PARTS = 10_000;

/** Bodies up to this size are kept as the chunks that came and joined once: no part buffer. */
const SMALL_BODY = 1024 * 1024;
/**
 * Part buffers (S3_PART_SIZE each) all puts of a process hold at most, together: 4 of
 * 5 MiB = 20 MiB, whatever the number of concurrent uploads. Each put holds at most two
 * (one uploading, one filling). The gateway, not these, limits throughput: 4, 6 and 8
 * gave the same tus throughput in bench tus-throughput-s3, and 4 leaves room under the
 * API's 200 MiB for the hashing thread (UPLOAD_HASH_THREADS) and a young generation
 * that costs no extra CPU (--max-semi-space-size=8).
 */
export const PARTS_IN_MEMORY = 4;

/** How long a failed put keeps trying to abort its multipart upload while the store is away. */
const ABORT_RETRY_MS = 120_000;

/** S3 and MinIO codes for "this key has no object". */
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);
/** Socket-level failures: the server did not answer, or went away mid-request. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);
/** S3 codes meaning "the service cannot serve this now": worth a retry later. */
const UNAVAILABLE_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'RequestTimeTooSkewed']);
/**
 * The bucket or the credentials are wrong. Not transient, but to everything above this
 * file it is the same fact: storage refuses us, and readiness must say so.
 */
const REFUSED_CODES = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);
/** Codes a concurrent or repeated create of our own bucket answers with. */
const BUCKET_EXISTS_CODES = new Set(['BucketAlreadyOwnedByYou', 'BucketAlreadyExists']);

export interface UploadedPart {
  part: number;
  etag: string;
}

/**
 * Object store on any S3-protocol server (AWS S3, MinIO, Ceph's radosgw in tests),
 * through the `minio` client.
 *
 * Uploads never go through the client's streaming `putObject`: for a stream of unknown
 * size it first lists in-progress multipart uploads to resume one (another process's,
 * possibly) and buffers parts of 64 MiB. Instead `put` cuts the
 * body into parts of `partSize` itself: a body shorter than one part is a single PUT of
 * a known-size Buffer; a longer one is an explicit multipart upload that holds at most
 * two parts in memory (one uploading, one filling), pausing the source in between.
 */
export class S3ObjectStore implements ObjectStore {
  readonly driver = 's3' as const;
  readonly bucket: string;
  private readonly client: Client;
  private readonly partSize: number;
  private readonly region: string;

  /** `idleTimeoutMs`: see S3_IDLE_TIMEOUT_MS (tests shorten it). */
  constructor(config: S3StorageConfig, opts: { idleTimeoutMs?: number } = {}) {
    this.bucket = config.bucket;
    this.partSize = config.partSize;
    this.region = config.region;
    this.client = createS3Client(config, config, opts.idleTimeoutMs);
  }

  /**
   * Create the bucket unless it exists. Idempotent; a concurrent create by another
   * process is not an error.
   */
  async ensureBucket(): Promise<void> {
    try {
      if (await this.client.bucketExists(this.bucket)) return;
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err) {
      if (BUCKET_EXISTS_CODES.has(codeOf(err))) return;
      throw translate(err, this.bucket);
    }
  }

  async put(key: string, body: Readable | Buffer, meta: PutMeta = {}): Promise<PutResult> {
    assertValidKey(key);
    const headers: Record<string, string> = meta.contentType ? { 'Content-Type': meta.contentType } : {};
    if (Buffer.isBuffer(body) && body.length <= this.partSize) {
      // Already in memory and within one part: one PUT, whatever its size.
      await this.s3(key, () => this.client.putObject(this.bucket, key, body, body.length, headers));
      return { key, size: body.length };
    }
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    // Aborting destroys the source, so the read loop below ends with Node's AbortError,
    // the same error `pipeline(..., { signal })` gives on the fs backend.
    if (meta.signal) addAbortSignal(meta.signal, source);
    // Rejects with the source's own error while we wait on S3, so an abort or a failing
    // client is noticed without waiting for a slow part upload to finish.
    let onSourceError: ((err: unknown) => void) | undefined;
    const sourceFailed = new Promise<never>((_, reject) => {
      onSourceError = reject;
      source.once('error', reject);
    });
    sourceFailed.catch(() => undefined);

    let uploadId: string | undefined;
    let inflight: Promise<UploadedPart> | undefined;
    const parts: UploadedPart[] = [];
    let size = 0;
    // A body's first bytes gather as the chunks that came (most objects are small
    // renditions); past SMALL_BODY they move into a part buffer, filled in place.
    let chunks: Buffer[] = [];
    let part: Buffer | undefined;
    let filled = 0;

    const append = async (chunk: Buffer): Promise<void> => {
      if (!part && filled + chunk.length > SMALL_BODY) {
        part = await this.takePartBuffer();
        let at = 0;
        for (const c of chunks) at += c.copy(part, at);
        chunks = [];
      }
      if (part) chunk.copy(part, filled);
      else chunks.push(chunk);
      filled += chunk.length;
    };
    /** What was filled, as one Buffer, and whether it is a pooled part buffer. */
    const take = (): { data: Buffer; pooled: Buffer | undefined } => {
      const pooled = part;
      const data = pooled ? pooled.subarray(0, filled) : Buffer.concat(chunks, filled);
      part = undefined;
      chunks = [];
      filled = 0;
      return { data, pooled };
    };

    const startPart = async ({ data, pooled }: { data: Buffer; pooled: Buffer | undefined }): Promise<void> => {
      try {
        uploadId ??= await this.s3(key, () => this.client.initiateNewMultipartUpload(this.bucket, key, headers));
        // At most one part uploads while the next one fills: wait for it before starting another.
        if (inflight) parts.push(await Promise.race([inflight, sourceFailed]));
      } catch (err) {
        this.givePartBuffer(pooled);
        throw err;
      }
      const number = parts.length + 1;
      if (number > MAX_PARTS) {
        this.givePartBuffer(pooled);
        throw new Error(`Object "${key}" exceeds ${MAX_PARTS} parts of ${this.partSize} bytes; raise S3_PART_SIZE to store larger files.`);
      }
      const id = uploadId;
      inflight = this.s3(key, () =>
        this.client.uploadPart({ bucketName: this.bucket, objectName: key, uploadID: id, partNumber: number, headers: {} }, data),
      ).then((r) => ({ part: number, etag: r.etag }));
      // The buffer is reused once the request is over, whichever way it ended.
      void inflight.then(
        () => this.givePartBuffer(pooled),
        () => this.givePartBuffer(pooled),
      );
    };

    try {
      for await (const raw of source) {
        let chunk = toBuffer(raw);
        size += chunk.length;
        while (filled + chunk.length >= this.partSize) {
          const head = chunk.subarray(0, this.partSize - filled);
          chunk = chunk.subarray(head.length);
          await append(head);
          await startPart(take());
        }
        if (chunk.length > 0) await append(chunk);
      }
      if (uploadId === undefined) {
        const rest = take();
        try {
          await this.s3(key, () => this.client.putObject(this.bucket, key, rest.data, rest.data.length, headers));
        } finally {
          this.givePartBuffer(rest.pooled);
        }
        return { key, size };
      }
      // A body of a whole number of parts leaves nothing here; S3 needs no empty last part.
      if (filled > 0) await startPart(take());
      if (inflight) parts.push(await Promise.race([inflight, sourceFailed]));
      inflight = undefined;
      const id = uploadId;
      await this.s3(key, () => this.client.completeMultipartUpload(this.bucket, key, id, parts));
      return { key, size };
    } catch (err) {
      if (uploadId !== undefined) {
        const upload = { key, uploadId, initiated: new Date() };
        await this.abandon(upload);
        // A part still uploading can land after the abort; S3 asks to abort again then.
        if (inflight)
          void inflight.then(
            () => this.abandon(upload),
            () => this.abandon(upload),
          );
      }
      if (!source.destroyed) source.destroy();
      throw err;
    } finally {
      if (onSourceError) source.off('error', onSourceError);
      // A part being filled when the put failed (an upload's part is given back when its request ends).
      this.givePartBuffer(part);
    }
  }

  /**
   * Part buffers: at most PARTS_IN_MEMORY at once in this process, shared by all puts (a
   * put that needs one while all are taken waits, its source paused, until an upload
   * of a part ends), and reused rather than left to the garbage collector, which under
   * many concurrent uploads falls behind and lets resident memory climb.
   */
  private readonly spare: Buffer[] = [];
  private partsOut = 0;
  private readonly partWaiters: (() => void)[] = [];
  /**
   * A part buffer from the same budget for a caller that fills parts itself (tus): waits
   * while PARTS_IN_MEMORY are out. `size` above S3_PART_SIZE (a file too large for 10,000
   * parts of it) counts as one buffer too but is not kept for reuse. Give it back with
   * givePartBuffer exactly once, whatever happens.
   */
  async takePartBuffer(size = this.partSize): Promise<Buffer> {
    while (this.partsOut >= PARTS_IN_MEMORY) await new Promise<void>((resolve) => this.partWaiters.push(resolve));
    this.partsOut++;
    return (size === this.partSize ? this.spare.pop() : undefined) ?? Buffer.allocUnsafeSlow(size);
  }
  givePartBuffer(buffer: Buffer | undefined): void {
    if (!buffer || this.spare.includes(buffer)) return;
    if (buffer.length === this.partSize) this.spare.push(buffer);
    this.partsOut--;
    this.partWaiters.shift()?.();
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (!range) return relay(await this.s3(key, () => this.client.getObject(this.bucket, key)), key);
    const { start, end } = range;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new RangeError(`Invalid byte range ${start}-${end}: expected integers with 0 <= start <= end.`);
    }
    let res: Readable;
    try {
      res = await this.s3(key, () => this.client.getPartialObject(this.bucket, key, start, end - start + 1));
    } catch (err) {
      // A range starting past the end is 416 on S3; the fs backend reads nothing. Match it.
      if (codeOf(err) === 'InvalidRange') return Readable.from([]);
      throw err;
    }
    // A server may widen the range or ignore it (200 with the whole object; some answer
    // "bytes=0-0" with everything). Cut what was served to what was asked for.
    const served = res as Readable & Partial<Pick<IncomingMessage, 'statusCode' | 'headers'>>;
    const from = served.statusCode === 206 ? /^bytes (\d+)-/.exec(served.headers?.['content-range'] ?? '')?.[1] : '0';
    const servedStart = from === undefined ? start : Number(from);
    if (servedStart > start) {
      res.destroy();
      throw new Error(`Asked for bytes from ${start} of "${key}", the server sent from ${servedStart}.`);
    }
    return relay(res, key, { skip: start - servedStart, take: end - start + 1 });
  }

  async open(key: string): Promise<{ info: ObjectInfo; body: Readable }> {
    assertValidKey(key);
    const res = (await this.s3(key, () => this.client.getObject(this.bucket, key))) as Readable & Partial<Pick<IncomingMessage, 'headers'>>;
    const headers = res.headers ?? {};
    const size = Number(headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0) {
      res.destroy();
      throw new Error(`Expected a Content-Length with "${key}" from S3, got ${JSON.stringify(headers['content-length'])}.`);
    }
    const modified = headers['last-modified'] ? new Date(headers['last-modified']) : undefined;
    const contentType = headers['content-type'];
    return {
      info: {
        key,
        size,
        ...(contentType ? { contentType } : {}),
        ...(modified && !Number.isNaN(modified.getTime()) ? { lastModified: modified } : {}),
      },
      body: relay(res, key),
    };
  }

  async head(key: string): Promise<ObjectInfo> {
    assertValidKey(key);
    const st = await this.s3(key, () => this.client.statObject(this.bucket, key));
    const contentType = st.metaData['content-type'] as unknown;
    return {
      key,
      size: st.size,
      ...(typeof contentType === 'string' ? { contentType } : {}),
      lastModified: st.lastModified,
    };
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.s3(key, () => this.client.removeObject(this.bucket, key));
    } catch (err) {
      // S3 answers 204 for a missing key; some servers say 404. Either way it is gone.
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // ListObjectsV2 returns keys in UTF-8 binary order, 1000 per page; the client's
    // stream follows the continuation tokens.
    const items = this.client.listObjectsV2(this.bucket, prefix, true);
    try {
      for await (const item of items as AsyncIterable<BucketItem>) {
        if (item.name === undefined) continue;
        yield { key: item.name, size: item.size, lastModified: item.lastModified };
      }
    } catch (err) {
      throw translate(err, prefix);
    }
  }

  async *folders(prefix: string): AsyncIterable<string> {
    // Non-recursive: "/" is the delimiter, and each folder comes once as a common prefix.
    const items = this.client.listObjectsV2(this.bucket, prefix, false);
    try {
      for await (const item of items as AsyncIterable<BucketItem>) if (item.prefix !== undefined) yield item.prefix;
    } catch (err) {
      throw translate(err, prefix);
    }
  }

  async *incompleteUploads(prefix: string): AsyncIterable<IncompleteUpload> {
    // ListMultipartUploads pages by key marker. minio-js drops NextUploadIdMarker, so a page
    // resumes after the last key: more uploads of one key than fit a page (1000) wait for
    // the next sweep.
    for (let keyMarker = ''; ;) {
      const marker = keyMarker;
      const page = await this.s3(prefix, () => this.client.listIncompleteUploadsQuery(this.bucket, prefix, marker, '', ''));
      for (const u of page.uploads) yield { key: String(u.key), uploadId: String(u.uploadId), initiated: u.initiated };
      if (!page.isTruncated || !page.nextKeyMarker || page.nextKeyMarker === marker) return;
      keyMarker = page.nextKeyMarker;
    }
  }

  /**
   * Multipart primitives for a caller that fills one upload over several requests (tus):
   * `put` does all of this itself within one stream.
   */
  async startUpload(key: string, contentType = 'application/octet-stream'): Promise<string> {
    assertValidKey(key);
    return this.s3(key, () => this.client.initiateNewMultipartUpload(this.bucket, key, { 'Content-Type': contentType }));
  }

  /**
   * One PUT of a body already in memory, whatever its size (S3 takes up to 5 GiB): no
   * part buffer, so a caller holding one of the budget's (tus, storing the bytes past
   * its last part) never waits on the budget for another.
   */
  async putWhole(key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    assertValidKey(key);
    await this.s3(key, () => this.client.putObject(this.bucket, key, body, body.length, { 'Content-Type': contentType }));
  }

  async uploadPart(key: string, uploadId: string, part: number, body: Buffer): Promise<UploadedPart> {
    const r = await this.s3(key, () =>
      this.client.uploadPart({ bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: {} }, body),
    );
    return { part, etag: r.etag };
  }

  async completeUpload(key: string, uploadId: string, parts: UploadedPart[]): Promise<void> {
    await this.s3(key, () => this.client.completeMultipartUpload(this.bucket, key, uploadId, parts));
  }

  async abortUpload(upload: IncompleteUpload): Promise<void> {
    try {
      await this.s3(upload.key, () => this.client.abortMultipartUpload(this.bucket, upload.key, upload.uploadId));
    } catch (err) {
      if (codeOf(err) !== 'NoSuchUpload') throw err;
    }
  }

  /**
   * Abort a multipart upload a failed put leaves, never throwing: the caller must see
   * the put's own error. While the store is unreachable (often why the put failed) it
   * keeps trying in the background for a while; the orphan sweeper aborts what is left.
   */
  private async abandon(upload: IncompleteUpload, retryUntil = Date.now() + ABORT_RETRY_MS, delay = 500): Promise<void> {
    try {
      await this.abortUpload(upload);
    } catch (err) {
      if (!(err instanceof StorageUnavailableError) || Date.now() + delay > retryUntil) return;
      setTimeout(() => void this.abandon(upload, retryUntil, Math.min(delay * 2, 8000)), delay).unref();
    }
  }

  localPath(): undefined {
    return undefined;
  }

  async ping(): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.client.bucketExists(this.bucket);
    } catch (err) {
      throw toUnavailable(err, `bucket "${this.bucket}"`);
    }
    if (!exists) throw new StorageUnavailableError(`bucket "${this.bucket}" does not exist`);
  }

  /** Run one S3 call with its errors translated. */
  private async s3<T>(key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw translate(err, key);
    }
  }
}

/**
 * The response body as a stream of our own: errors the body fails with mid-way (a reset
 * connection) are translated like every other failure here, and with `window` only
 * bytes `[skip, skip + take)` of the body pass.
 */
function relay(res: Readable, key: string, window?: { skip: number; take: number }): Readable {
  let skip = window?.skip ?? 0;
  let take = window?.take ?? Infinity;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.min(skip, chunk.length);
      skip -= from;
      const piece = chunk.subarray(from, from + Math.min(take, chunk.length - from));
      take -= piece.length;
      done(null, piece.length > 0 ? piece : undefined);
    },
  });
  res.on('error', (err) => out.destroy(translate(err, key)));
  out.on('close', () => res.destroy());
  res.pipe(out);
  return out;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`Expected the body to yield Buffers, got ${typeof chunk}.`);
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function isUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (NETWORK_CODES.has(code) || UNAVAILABLE_CODES.has(code) || REFUSED_CODES.has(code)) return true;
  const message = err instanceof Error ? err.message : '';
  // minio retries 408/429/5xx once, then throws a plain Error naming the status.
  return /socket hang up|Retryable HTTP status/i.test(message);
}

function toUnavailable(err: unknown, what: string): StorageUnavailableError {
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  return new StorageUnavailableError(`${code ? `${code} ` : ''}on ${what} (${message})`, { cause: err });
}

/** Driver errors to ours; anything else (a bug, an invalid argument) passes unchanged. */
function translate(err: unknown, key: string): Error {
  if (err instanceof ObjectNotFoundError || err instanceof StorageUnavailableError) return err;
  if (NOT_FOUND_CODES.has(codeOf(err))) return new ObjectNotFoundError(key);
  if (isUnavailable(err)) return toUnavailable(err, `"${key}"`);
  return err instanceof Error ? err : new Error(String(err));
}
