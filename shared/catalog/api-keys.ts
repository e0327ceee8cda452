import { createHash, randomBytes } from 'node:crypto';
import type { RedisConnection } from '../redis.js';
import { securityKeys } from './keys.js';

/** What a scoped key may do, each on its libraries only. */
export const PERMISSIONS = ['read', 'upload', 'delete', 'reprocess'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** A scoped API key as stored and listed: never its secret. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** Library ids, or '*' for every library (also those made later). */
  libraries: number[] | '*';
  /** The names the libraries had when the key was made, for listings. */
  libraryNames: string[];
  permissions: Permission[];
  expiresAt: string | null;
  createdAt: string;
}

/**
 * How long a replica trusts what it read about a key. Revocation reaches every API
 * replica within this (the issue asks for 2 s); a burst of requests with one key costs
 * one Redis read per second per replica.
 */
const CACHE_MS = 1000;
const CACHE_MAX = 10_000;

/**
 * Scoped, revocable API keys in Redis (issue 21). A key is 32 random bytes; only its
 * SHA-256 is stored — high-entropy secrets need no slow hash, and a leaked Redis dump
 * opens nothing. Two small hashes under the `{prefix}` tag: digest → record, id → digest.
 */
export class ApiKeyStore {
  private readonly keys: ReturnType<typeof securityKeys>;
  private readonly cache = new Map<string, { record: ApiKeyRecord | undefined; until: number }>();

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.keys = securityKeys(prefix);
  }

  /** A new key: its record, and the secret — shown this once. */
  async create(input: Omit<ApiKeyRecord, 'id' | 'createdAt'>): Promise<{ record: ApiKeyRecord; key: string }> {
    const id = randomBytes(8).toString('hex');
    const key = `mik_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = { id, ...input, createdAt: new Date().toISOString() };
    const digest = digestOf(key);
    await this.redis.multi().hset(this.keys.apiKeysByDigest, digest, JSON.stringify(record)).hset(this.keys.apiKeyIds, id, digest).exec();
    return { record, key };
  }

  async list(): Promise<ApiKeyRecord[]> {
    const all = Object.values(await this.redis.hgetall(this.keys.apiKeysByDigest)).map((v) => JSON.parse(v) as ApiKeyRecord);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Revokes the key; false when there is no key of that id. */
  async revoke(id: string): Promise<boolean> {
    const digest = await this.redis.hget(this.keys.apiKeyIds, id);
    if (!digest) return false;
    await this.redis.multi().hdel(this.keys.apiKeysByDigest, digest).hdel(this.keys.apiKeyIds, id).exec();
    this.cache.delete(digest);
    return true;
  }

  /** The record of a presented key, if it is a live (known, unexpired) scoped key. */
  async verify(key: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    if (!key.startsWith('mik_')) return undefined;
    const digest = digestOf(key);
    const hit = this.cache.get(digest);
    let record: ApiKeyRecord | undefined;
    if (hit && hit.until > now) {
      record = hit.record;
    } else {
      const raw = await this.redis.hget(this.keys.apiKeysByDigest, digest);
      record = raw ? (JSON.parse(raw) as ApiKeyRecord) : undefined;
      // Unknown keys are not remembered: a key made on another replica works at once.
      if (record) {
        if (this.cache.size >= CACHE_MAX) this.cache.clear();
        this.cache.set(digest, { record, until: now + CACHE_MS });
      } else {
        this.cache.delete(digest);
      }
    }
    if (record?.expiresAt && Date.parse(record.expiresAt) <= now) return undefined;
    return record;
  }
}

function digestOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
