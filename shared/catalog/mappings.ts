import { ConflictError } from '../errors.js';
import { DEFAULT_MAPPINGS, type FieldMappings } from '../metadata/field-mappings.js';
import { keyPrefix, type RedisConnection } from '../redis.js';

export interface MappingsVersion {
  /** Bumped by every change; a resource records the version it was processed with. */
  version: number;
  fields: FieldMappings;
  /** When this version was stored; null for the built-in defaults (version 1). */
  updated: string | null;
}

/** Version of the built-in defaults, before anyone stored mappings. */
export const DEFAULT_MAPPINGS_VERSION = 1;

/**
 * Compare-and-set in one script, so two concurrent PUTs can never both think they made
 * version N+1. KEYS: mappings · ARGV: expected version ('' = any), json, now, default
 * version → {version, changed (1|0)} or {-1, current} on a version mismatch.
 */
const PUT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or ARGV[4])
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= cur then return {-1, cur} end
local fields = redis.call('HGET', KEYS[1], 'fields')
if fields == ARGV[2] then return {cur, 0} end
local v = cur + 1
redis.call('HSET', KEYS[1], 'version', v, 'fields', ARGV[2], 'updated', ARGV[3])
return {v, 1}`;

type PutRedis = RedisConnection & {
  miPutMappings(key: string, expected: string, json: string, now: string, def: string): Promise<[number, number]>;
};

/** The field mappings, one versioned document in Redis. */
export class MappingsStore {
  private readonly redis: PutRedis;
  readonly key: string;

  constructor(redis: RedisConnection, prefix: string) {
    if (!('miPutMappings' in redis)) redis.defineCommand('miPutMappings', { numberOfKeys: 1, lua: PUT });
    this.redis = redis as PutRedis;
    this.key = `${keyPrefix(prefix)}:mappings`;
  }

  async get(): Promise<MappingsVersion> {
    const h = await this.redis.hgetall(this.key);
    if (!h.version || !h.fields) return { version: DEFAULT_MAPPINGS_VERSION, fields: DEFAULT_MAPPINGS, updated: null };
    return { version: Number(h.version), fields: JSON.parse(h.fields) as FieldMappings, updated: h.updated ?? null };
  }

  /**
   * Stores a validated document. An identical document keeps its version (a re-sent
   * PUT must not make every resource stale). With `expectedVersion`, refuses when
   * someone else changed the mappings since that version was read.
   */
  async put(fields: FieldMappings, expectedVersion?: number): Promise<MappingsVersion & { changed: boolean }> {
    const now = new Date().toISOString();
    const [version, changed] = await this.redis.miPutMappings(
      this.key,
      expectedVersion === undefined ? '' : String(expectedVersion),
      JSON.stringify(fields),
      now,
      String(DEFAULT_MAPPINGS_VERSION),
    );
    if (version === -1) {
      throw new ConflictError(`The mappings are at version ${changed}, not ${expectedVersion}; GET them again and re-apply your change.`, {
        version: changed,
      });
    }
    return changed === 1 ? { version, fields, updated: now, changed: true } : { ...(await this.get()), changed: false };
  }
}
