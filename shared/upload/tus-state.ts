import type { RedisConnection } from '../redis.js';
import { catalogKeys, type CatalogKeys } from '../catalog/keys.js';

/** One resumable upload as every API replica sees it: a Redis hash, the only truth about its offset. */
export interface TusUpload {
  id: string;
  library: number;
  /** Upload-Length: every upload declares its size at creation (no deferred length). */
  length: number;
  /** Bytes stored for good: a PATCH on any replica continues from here. */
  offset: number;
  /** Reserved at creation, so the bytes go straight to the resource's own key. */
  resourceId: number;
  key: string;
  fileName: string;
  fileType: string | null;
  /** The upload fields from Upload-Metadata (title, tags, no_exif), JSON. */
  fields: string;
  /** Upload-Metadata as the client sent it, echoed by HEAD. */
  metadata: string;
  createdAt: number;
  expiresAt: number;
  status: 'open' | 'done' | 'expired';
  /** Set when done: the ingest job of the resource. */
  jobId: string;
  fileVersion: number;
  /** s3: part size of this upload, its multipart upload id ('' before the first part), parts so far (JSON). */
  partSize: number;
  multipart: string;
  parts: string;
  /** s3: the object holding the bytes past the last whole part ('' when there are none). */
  tail: string;
}

/** Fields a PATCH commits together with its new offset. */
export type TusPatch = Partial<Omit<TusUpload, 'id' | 'library' | 'length' | 'resourceId' | 'key' | 'createdAt'>>;

/** How long an expired upload keeps answering 410 before its URL is simply unknown (404). */
const TOMBSTONE_MS = 24 * 3600 * 1000;

/**
 * Commit a PATCH only while holding the upload's lock and only from the offset it
 * started at: a request whose lock expired (a stalled replica) cannot overwrite what
 * the next holder wrote. KEYS: state, lock, expiring. ARGV: token, expected offset,
 * PEXPIREAT of the state, score in the expiring set ('' removes it), id, field/value pairs.
 */
const COMMIT = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'offset') ~= ARGV[2] then return -1 end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -2 end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if ARGV[4] == '' then redis.call('ZREM', KEYS[3], ARGV[5]) else redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5]) end
return 1`;

/** KEYS: lock. ARGV: token, ttl ms. */
const REFRESH = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** KEYS: lock. ARGV: token. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type Scripts = {
  miTusCommit(state: string, lock: string, expiring: string, ...args: (string | number)[]): Promise<number>;
  miTusRefresh(lock: string, token: string, ttlMs: number): Promise<number>;
  miTusRelease(lock: string, token: string): Promise<number>;
};

/**
 * Where tus uploads live in Redis, so that no request needs the replica that served the
 * last one. Every key shares the catalog's `{prefix}` hash tag; each command names its
 * keys, so it runs on Redis Cluster as on one server.
 */
export class TusStateStore {
  private readonly keys: CatalogKeys;
  private readonly r: RedisConnection & Scripts;

  constructor(redis: RedisConnection, prefix: string) {
    this.keys = catalogKeys(prefix);
    if (!('miTusCommit' in redis)) redis.defineCommand('miTusCommit', { numberOfKeys: 3, lua: COMMIT });
    if (!('miTusRefresh' in redis)) redis.defineCommand('miTusRefresh', { numberOfKeys: 1, lua: REFRESH });
    if (!('miTusRelease' in redis)) redis.defineCommand('miTusRelease', { numberOfKeys: 1, lua: RELEASE });
    this.r = redis as RedisConnection & Scripts;
  }

  async create(u: TusUpload): Promise<void> {
    await this.r
      .multi()
      .hset(this.keys.tusUpload(u.id), toHash(u))
      .pexpireat(this.keys.tusUpload(u.id), u.expiresAt + TOMBSTONE_MS)
      .zadd(this.keys.tusExpiring, u.expiresAt, u.id)
      .exec();
  }

  async get(id: string): Promise<TusUpload | undefined> {
    const h = await this.r.hgetall(this.keys.tusUpload(id));
    return h.id ? fromHash(h) : undefined;
  }

  /** Take the upload's write lock; false when another request holds it. */
  async lock(id: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.r.set(this.keys.tusLock(id), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extend a held lock; false when it was lost (expired and maybe taken by another request). */
  async refresh(id: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.r.miTusRefresh(this.keys.tusLock(id), token, ttlMs)) === 1;
  }

  async release(id: string, token: string): Promise<void> {
    await this.r.miTusRelease(this.keys.tusLock(id), token);
  }

  /**
   * Record what a PATCH stored. `keepUntil` is when the state itself may go; `expiresAt`
   * (undefined once done) is when the sweep removes the bytes of an unfinished upload.
   * Returns why not when the commit was refused.
   */
  async commit(
    id: string,
    token: string,
    fromOffset: number,
    patch: TusPatch,
    keepUntil: number,
    expiresAt: number | undefined,
  ): Promise<'ok' | 'lock lost' | 'offset moved' | 'not open'> {
    const args: (string | number)[] = [token, String(fromOffset), keepUntil, expiresAt === undefined ? '' : expiresAt, id];
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) args.push(k, String(v));
    const r = await this.r.miTusCommit(this.keys.tusUpload(id), this.keys.tusLock(id), this.keys.tusExpiring, ...args);
    return r === 1 ? 'ok' : r === 0 ? 'lock lost' : r === -1 ? 'offset moved' : 'not open';
  }

  /** Forget the upload entirely (terminated): its URL answers 404. */
  async remove(id: string): Promise<void> {
    await this.r.multi().del(this.keys.tusUpload(id)).zrem(this.keys.tusExpiring, id).exec();
  }

  /** The upload's bytes were swept: its URL answers 410 for a day, then 404. */
  async markExpired(id: string): Promise<void> {
    await this.r
      .multi()
      .hset(this.keys.tusUpload(id), 'status', 'expired', 'multipart', '', 'parts', '[]', 'tail', '')
      .pexpire(this.keys.tusUpload(id), TOMBSTONE_MS)
      .zrem(this.keys.tusExpiring, id)
      .exec();
  }

  /** Ids of open uploads whose expiry passed, oldest first. */
  async due(now: number, limit: number): Promise<string[]> {
    return this.r.zrangebyscore(this.keys.tusExpiring, '-inf', now, 'LIMIT', 0, limit);
  }

  /** Move an upload in the expiring set (its expiry was renewed by a PATCH). */
  async reschedule(id: string, expiresAt: number): Promise<void> {
    await this.r.zadd(this.keys.tusExpiring, expiresAt, id);
  }
}

const NUMBERS = ['library', 'length', 'offset', 'resourceId', 'createdAt', 'expiresAt', 'fileVersion', 'partSize'] as const;

function toHash(u: TusUpload): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(u)) h[k] = v === null ? '' : String(v);
  return h;
}

function fromHash(h: Record<string, string>): TusUpload {
  const u = { ...h } as unknown as Record<string, unknown>;
  for (const k of NUMBERS) u[k] = Number(h[k] ?? 0);
  u.fileType = h.fileType ? h.fileType : null;
  return u as unknown as TusUpload;
}
