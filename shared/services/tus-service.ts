import { createHash, randomBytes } from 'node:crypto';
import type { RedisConnection } from '../redis.js';
import {
  AppError,
  ChecksumMismatchError,
  ClientAbortedError,
  ConflictError,
  GoneError,
  LockedError,
  NotFoundError,
  PayloadTooLargeError,
} from '../errors.js';
import { logFailure, type Logger } from '../logger.js';
import type { Library } from '../model.js';
import { originalKey } from '../storage/layout.js';
import { SNIFF_BYTES } from '../upload/inspect-stream.js';
import { extensionOf, sniffType } from '../upload/sniff.js';
import type { RunningHash } from '../upload/running-hash.js';
import type { TusData } from '../upload/tus-data.js';
import { TusStateStore, type TusPatch, type TusUpload } from '../upload/tus-state.js';
import { UploadFieldsBuilder } from '../upload/upload-fields.js';
import type { UploadService } from './upload-service.js';

/** `source` of resources uploaded through tus. */
export const TUS_SOURCE = 'tus';
/** Upload-Metadata keys that become upload fields; the rest of the metadata is ignored. */
export const TUS_FIELD_KEYS = ['title', 'tags', 'no_exif'] as const;

/** A PATCH holds the upload's lock this long, renewed while it runs. */
const LOCK_TTL_MS = 30_000;
const LOCK_RENEW_MS = 10_000;
/**
 * How long a PATCH waits for the lock before answering 423. A client that lost its
 * connection and resumes at once (tus-js-client) often arrives while the old request is
 * still committing what it got; a short wait spares it a retry.
 */
const LOCK_WAIT_MS = 3_000;
/** SHA-256 states kept for uploads this process is receiving (beyond, the oldest fall back to a re-read). */
const MAX_CHAINS = 10_000;
/** Expired uploads removed per sweep round. */
const SWEEP_BATCH = 100;

export interface TusCreateRequest {
  library: Library;
  length: number;
  fileName: string;
  fileType: string | null;
  /** Upload fields from the metadata (keys of TUS_FIELD_KEYS). */
  fields: Record<string, string>;
  /** Upload-Metadata as sent. */
  metadata: string;
}

export interface TusWriteOptions {
  /** Upload-Checksum's SHA-256 of this request's body (checksum extension). */
  checksum?: Buffer;
  /** Content-Length, when the client sent one: too many bytes are refused before any is read. */
  contentLength?: number;
}

/** What a finished upload became. */
export interface TusCompletion {
  resourceId: number;
  jobId: string;
  fileVersion: number;
}

/**
 * The SHA-256 of an upload's bytes so far, and its first bytes for sniffing, kept by the
 * process that received them. A PATCH that continues exactly where this process's chain
 * ends extends it; one that starts elsewhere (another replica served the bytes before,
 * or a PATCH was rolled back) breaks it, and completion re-reads the stored file instead.
 */
interface HashChain {
  offset: number;
  /** On UPLOAD_HASH_THREADS like a multipart upload's; parked (no blocks held) between PATCHes. */
  hash: RunningHash;
  head: Buffer;
}

/**
 * Resumable uploads (tus 1.0): the protocol's state machine without HTTP. The offset,
 * the lock and the data layout live in Redis and storage (TusStateStore, TusData), so
 * any API replica serves any request; the last byte hands the file to UploadService's
 * commit — the same record, de-duplication and ingest job as a multipart upload.
 */
export class TusService {
  private readonly state: TusStateStore;
  private readonly chains = new Map<string, HashChain>();

  constructor(
    private readonly deps: {
      /** The commit every upload ends in; its catalog, store and limits are the ones tus uses. */
      uploads: UploadService;
      redis: RedisConnection;
      redisPrefix: string;
      data: TusData;
      expirySeconds: number;
      /** s3: the smallest part (S3_PART_SIZE); fs: unused. */
      partSize: number;
      logger: Logger;
    },
  ) {
    this.state = new TusStateStore(deps.redis, deps.redisPrefix);
  }

  /** Tus-Max-Size: the library's limit, else the global one. */
  limitOf(library: Library): number {
    return this.deps.uploads.limitOf(library);
  }

  async create(req: TusCreateRequest): Promise<TusUpload> {
    const limit = this.limitOf(req.library);
    if (req.length > limit) throw new PayloadTooLargeError(limit);
    const fields = new UploadFieldsBuilder();
    for (const [k, v] of Object.entries(req.fields)) fields.add(k, v);
    fields.build();
    const resourceId = await this.deps.uploads.catalog.allocateResourceId();
    const now = Date.now();
    // At least the configured part size, and large enough that the file fits 10,000 parts.
    const partSize = Math.max(this.deps.partSize, Math.ceil(req.length / 10_000 / 1048576) * 1048576);
    const upload: TusUpload = {
      id: randomBytes(16).toString('base64url'),
      library: req.library.id,
      length: req.length,
      offset: 0,
      resourceId,
      key: originalKey(resourceId, 1, extensionOf(req.fileName)),
      fileName: req.fileName,
      fileType: req.fileType,
      fields: JSON.stringify(req.fields),
      metadata: req.metadata,
      createdAt: now,
      expiresAt: now + this.deps.expirySeconds * 1000,
      status: 'open',
      jobId: '',
      fileVersion: 0,
      partSize,
      multipart: '',
      parts: '[]',
      tail: '',
    };
    await this.state.create(upload);
    return upload;
  }

  /** The upload, if it belongs to `libraryId`; 404 when unknown, 410 when expired. */
  async get(id: string, libraryId: number): Promise<TusUpload> {
    const u = /^[A-Za-z0-9_-]{22}$/.test(id) ? await this.state.get(id) : undefined;
    if (!u || u.library !== libraryId) throw new NotFoundError('upload', id);
    if (u.status === 'expired' || (u.status === 'open' && u.expiresAt <= Date.now())) {
      throw new GoneError(
        `Upload ${id} expired (no PATCH for ${this.deps.expirySeconds} s, TUS_EXPIRY_SECONDS) and its bytes were removed; start a new upload.`,
      );
    }
    return u;
  }

  completionOf(u: TusUpload): TusCompletion | undefined {
    return u.status === 'done' ? { resourceId: u.resourceId, jobId: u.jobId, fileVersion: u.fileVersion } : undefined;
  }

  /**
   * One PATCH: append `body` at `offset`. Returns the upload as committed and, when the
   * last byte arrived, the resource it became. A client that goes away mid-body keeps
   * what arrived (the next HEAD tells how much) unless it sent Upload-Checksum, whose
   * bytes are kept only whole and matching.
   */
  async write(
    id: string,
    libraryId: number,
    offset: number,
    body: AsyncIterable<Buffer>,
    opts: TusWriteOptions = {},
  ): Promise<{ upload: TusUpload; completion: TusCompletion | undefined }> {
    let u = await this.get(id, libraryId);
    if (u.status === 'done') {
      if (offset !== u.length) throw offsetMismatch(u, offset);
      return { upload: u, completion: this.completionOf(u) };
    }
    if (offset !== u.offset) throw offsetMismatch(u, offset);

    const token = randomBytes(12).toString('hex');
    if (!(await this.acquire(id, token))) {
      throw new LockedError(`Upload ${id} is being written by another request; retry once it ends (HEAD tells the offset).`);
    }
    const lost = new AbortController();
    const renew = setInterval(() => {
      this.state.refresh(id, token, LOCK_TTL_MS).then(
        (ok) => (ok ? undefined : lost.abort()),
        () => undefined,
      );
    }, LOCK_RENEW_MS);
    try {
      // Re-read under the lock: the request that held it may have moved the offset.
      u = await this.get(id, libraryId);
      if (u.status === 'done' || offset !== u.offset) throw offsetMismatch(u, offset);
      if (opts.contentLength !== undefined && offset + opts.contentLength > u.length) {
        await this.discardAll(u);
        throw tooLong(u, offset, `${opts.contentLength}`);
      }
      return await this.receive(u, token, body, opts, lost.signal);
    } finally {
      clearInterval(renew);
      await this.state
        .release(id, token)
        .catch(logFailure(this.deps.logger, 'tus lock release failed; it expires by itself', { upload: id }));
    }
  }

  private async receive(u: TusUpload, token: string, body: AsyncIterable<Buffer>, opts: TusWriteOptions, lost: AbortSignal) {
    const start = u.offset;
    let chain = this.takeChain(u.id, start);
    const own = opts.checksum ? createHash('sha256') : undefined;
    const writer = await this.deps.data.open(u);
    let received = 0;
    let committedOffset = start;
    let overflow = false;
    let interrupted: unknown;
    try {
      for await (const raw of body) {
        const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
        if (lost.aborted) throw new LockedError(`Upload ${u.id} lost its lock mid-request (this replica stalled); HEAD and resume.`);
        if (start + received + chunk.length > u.length) {
          overflow = true;
          break;
        }
        if (chain) {
          if (chain.head.length < SNIFF_BYTES) chain.head = Buffer.concat([chain.head, chunk.subarray(0, SNIFF_BYTES - chain.head.length)]);
          const waiting = chain.hash.add(chunk);
          // A hashing thread that died breaks the chain, not the upload: completion re-reads the file.
          if (waiting) await waiting.catch(() => (chain = undefined));
        }
        own?.update(chunk);
        await writer.write(chunk);
        received += chunk.length;
        if (!own) {
          const cp = await writer.checkpoint();
          if (cp && cp.offset < u.length) {
            await this.commitOrThrow(u, token, committedOffset, { ...cp.patch, offset: cp.offset });
            committedOffset = cp.offset;
            await writer.committed();
          }
        }
      }
    } catch (err) {
      // The client went away (or the socket idled out): keep what arrived, below.
      interrupted = isClientGone(err) ? new ClientAbortedError() : err;
    }

    const end = start + received;
    const rollback = async () => {
      chain?.hash.drop();
      chain = undefined;
      await writer.discard();
    };
    try {
      if (overflow) {
        await rollback();
        await this.discardAll(u);
        throw tooLong(u, start, 'more');
      }
      if (interrupted && !(interrupted instanceof ClientAbortedError)) {
        await rollback();
        throw interrupted;
      }
      if (own) {
        if (interrupted) {
          await rollback();
          throw interrupted;
        }
        const actual = own.digest();
        if (!actual.equals(opts.checksum!)) {
          await rollback();
          throw new ChecksumMismatchError(
            `The SHA-256 of this request's ${received} bytes is ${actual.toString('base64')}, Upload-Checksum said ${opts.checksum!.toString('base64')}; nothing of it was kept, send it again from offset ${start}.`,
          );
        }
      }
      if (end === u.length && !interrupted) {
        await writer.finish();
        const completion = await this.complete(u, token, committedOffset, chain);
        chain = undefined;
        return { upload: { ...u, offset: end, status: 'done' as const, ...completion }, completion };
      }
      const patch = await writer.flush();
      const expiresAt = Date.now() + this.deps.expirySeconds * 1000;
      await this.commitOrThrow(u, token, committedOffset, { ...patch, offset: end, expiresAt });
      await writer.committed();
      if (interrupted) throw interrupted;
      return { upload: { ...u, ...patch, offset: end, expiresAt }, completion: undefined };
    } catch (err) {
      chain?.hash.drop();
      chain = undefined;
      throw err;
    } finally {
      if (chain) this.keepChain(u.id, { ...chain, offset: end });
    }
  }

  private async commitOrThrow(u: TusUpload, token: string, from: number, patch: TusPatch & { offset: number }): Promise<void> {
    const expiresAt = patch.expiresAt ?? Date.now() + this.deps.expirySeconds * 1000;
    const r = await this.state.commit(u.id, token, from, { ...patch, expiresAt }, expiresAt + 24 * 3600 * 1000, expiresAt);
    if (r !== 'ok') throw new LockedError(`Upload ${u.id} was taken over by another request (${r}); HEAD for the offset and resume.`);
  }

  /**
   * The last byte is stored: hash (or re-read), sniff, create the record and its ingest
   * job through UploadService.commit, and remember the outcome for later HEADs.
   */
  private async complete(u: TusUpload, token: string, committedOffset: number, chain: HashChain | undefined): Promise<TusCompletion> {
    // A hashing thread that died took the running hash with it: read the file back instead.
    const streamed = chain ? await chain.hash.digest().catch(() => undefined) : undefined;
    const { checksum, head } = streamed !== undefined ? { checksum: streamed, head: chain!.head } : await this.reread(u.key);
    this.forgetChain(u.id);
    const library = await this.deps.uploads.catalog.getLibrary(u.library);
    const fields = new UploadFieldsBuilder();
    for (const [k, v] of Object.entries(JSON.parse(u.fields || '{}') as Record<string, string>)) fields.add(k, v);
    const sniffed = await sniffType(head, u.fileName);
    let record;
    try {
      [record] = await this.deps.uploads.commit(
        [{ id: u.resourceId, key: u.key, fileName: u.fileName, declaredType: u.fileType, size: u.length, checksum, sniffed }],
        fields.build(),
        library,
        TUS_SOURCE,
      );
    } catch (err) {
      // commit removed the file with the record it could not create: the upload cannot go on.
      await this.state
        .remove(u.id)
        .catch(logFailure(this.deps.logger, 'tus upload state could not be removed; the sweep retries', { upload: u.id }));
      throw err;
    }
    const completion = { resourceId: record!.id, jobId: record!.jobId, fileVersion: record!.fileVersion };
    const keepUntil = Date.now() + this.deps.expirySeconds * 1000;
    const r = await this.state.commit(
      u.id,
      token,
      committedOffset,
      { offset: u.length, status: 'done', ...completion, multipart: '', parts: '[]', tail: '' },
      keepUntil,
      undefined,
    );
    if (r !== 'ok')
      this.deps.logger.warn(
        { upload: u.id, resource: record!.id, reason: r },
        'tus upload completed but its state could not be marked done',
      );
    return completion;
  }

  /** The chain broke (bytes came through another replica): read the stored file once. */
  private async reread(key: string): Promise<{ checksum: string; head: Buffer }> {
    const hash = this.deps.uploads.runningHash();
    let head = Buffer.alloc(0);
    try {
      for await (const chunk of (await this.deps.uploads.store.get(key)) as AsyncIterable<Buffer>) {
        const waiting = hash.add(chunk);
        if (waiting) await waiting;
        if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
      }
      return { checksum: await hash.digest(), head };
    } finally {
      hash.drop();
    }
  }

  /** DELETE (termination): the bytes go, the URL answers 404. A finished upload is a resource: delete that instead. */
  async terminate(id: string, libraryId: number): Promise<void> {
    const u = await this.get(id, libraryId);
    if (u.status === 'done') {
      throw new ConflictError(
        `Upload ${id} is complete and became resource ${u.resourceId}; delete that with DELETE /v1/resources/${u.resourceId}.`,
      );
    }
    const token = randomBytes(12).toString('hex');
    if (!(await this.acquire(id, token)))
      throw new LockedError(`Upload ${id} is being written by another request; terminate it once that ends.`);
    try {
      await this.discardAll(await this.get(id, libraryId));
    } finally {
      await this.state
        .release(id, token)
        .catch(logFailure(this.deps.logger, 'tus lock release failed; it expires by itself', { upload: id }));
    }
  }

  /** Remove an upload's bytes and state (terminated, or sent too many bytes). */
  private async discardAll(u: TusUpload): Promise<void> {
    this.forgetChain(u.id);
    await this.deps.data.remove(u);
    await this.state.remove(u.id);
  }

  /**
   * Remove the bytes of uploads whose expiry passed; their URLs answer 410. Run by every
   * API replica on a timer: an upload being written (locked) is skipped, and the lock
   * keeps two replicas from sweeping the same one.
   */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const id of await this.state.due(now, SWEEP_BATCH)) {
      const token = randomBytes(12).toString('hex');
      if (!(await this.state.lock(id, token, LOCK_TTL_MS))) continue;
      try {
        const u = await this.state.get(id);
        if (!u || u.status !== 'open') {
          await this.state
            .remove(id)
            .catch(logFailure(this.deps.logger, 'tus upload state could not be removed; the sweep retries', { upload: id }));
          continue;
        }
        if (u.expiresAt > now) {
          await this.state.reschedule(id, u.expiresAt);
          continue;
        }
        this.forgetChain(id);
        await this.deps.data.remove(u);
        await this.state.markExpired(id);
        removed++;
      } catch (err) {
        this.deps.logger.warn({ err, upload: id }, 'tus sweep could not remove an expired upload; next round retries');
      } finally {
        await this.state
          .release(id, token)
          .catch(logFailure(this.deps.logger, 'tus lock release failed; it expires by itself', { upload: id }));
      }
    }
    return removed;
  }

  private async acquire(id: string, token: string): Promise<boolean> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      if (await this.state.lock(id, token, LOCK_TTL_MS)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private takeChain(id: string, offset: number): HashChain | undefined {
    const c = this.chains.get(id);
    this.chains.delete(id);
    if (c && c.offset === offset) return c;
    c?.hash.drop();
    return offset === 0 ? { offset: 0, hash: this.deps.uploads.runningHash(), head: Buffer.alloc(0) } : undefined;
  }

  /** Until the next PATCH: the hash holds no blocks meanwhile, and the oldest chain beyond MAX_CHAINS goes. */
  private keepChain(id: string, chain: HashChain): void {
    chain.hash.park();
    this.chains.set(id, chain);
    if (this.chains.size > MAX_CHAINS) this.forgetChain(this.chains.keys().next().value!);
  }

  private forgetChain(id: string): void {
    this.chains.get(id)?.hash.drop();
    this.chains.delete(id);
  }
}

/** A PATCH brought more bytes than the upload declared: a broken client, whose upload is discarded. */
function tooLong(u: TusUpload, offset: number, brought: string): AppError {
  return new AppError(
    'payload_too_large',
    `Expected at most ${u.length - offset} bytes from Upload-Offset ${offset} (Upload-Length ${u.length}) but the request brings ${brought}; the upload was discarded, start a new one.`,
    { limit: u.length },
  );
}

function offsetMismatch(u: TusUpload, offset: number): ConflictError {
  return new ConflictError(
    `Upload-Offset ${offset} does not match the upload's offset ${u.status === 'done' ? u.length : u.offset}; HEAD the upload and continue from there.`,
    {
      offset: u.status === 'done' ? u.length : u.offset,
    },
  );
}

/** The request body ended early because the client (or its connection) went away. */
function isClientGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'client_aborted' ||
    (err instanceof Error && /aborted/i.test(err.message))
  );
}
