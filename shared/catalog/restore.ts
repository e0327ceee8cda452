import type { RedisConnection } from '../redis.js';
import type { Library, ResourceRecord } from '../model.js';
import { Catalog } from './catalog.js';
import { catalogKeys, type CatalogKeys } from './keys.js';

/**
 * Writes that bring the catalog back from the JSON copies in object storage
 * (`reindex`). A record lands with its index entries in one Lua script (in its
 * bucket), so never without them, and each write is idempotent: running a reindex twice, or over a catalog that is
 * only partly lost, changes nothing that is already there and current.
 */
const SCRIPTS = {
  /**
   * KEYS: names, libs, library seq · ARGV: lowercased name, id, json
   * → 1 restored, 0 already there, -1 the name belongs to another id now
   */
  miRestoreLibrary: {
    numberOfKeys: 3,
    lua: `
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if (tonumber(redis.call('GET', KEYS[3])) or 0) < tonumber(ARGV[2]) then redis.call('SET', KEYS[3], ARGV[2]) end
return 1`,
  },
  /** KEYS: sequence · ARGV: at least this → the sequence */
  miRaiseSeq: {
    numberOfKeys: 1,
    lua: `
local v = tonumber(redis.call('GET', KEYS[1])) or 0
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return v`,
  },
} as const;

type RestoreRedis = RedisConnection & {
  miRestoreLibrary(names: string, libs: string, seq: string, name: string, id: string, json: string): Promise<number>;
  miRaiseSeq(seq: string, atLeast: string): Promise<number>;
};

export type LibraryRestore = 'restored' | 'unchanged' | 'conflict';

export class CatalogRestore {
  private readonly redis: RestoreRedis;
  private readonly keys: CatalogKeys;
  private readonly catalog: Catalog;

  constructor(redis: RedisConnection, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as RestoreRedis;
    this.keys = catalogKeys(prefix);
    this.catalog = new Catalog(redis, prefix);
  }

  async library(lib: Library): Promise<LibraryRestore> {
    const n = await this.redis.miRestoreLibrary(
      this.keys.libraryNames,
      this.keys.libraries,
      this.keys.librarySeq,
      lib.name.toLowerCase(),
      String(lib.id),
      JSON.stringify(lib),
    );
    return n === 1 ? 'restored' : n === 0 ? 'unchanged' : 'conflict';
  }

  async hasLibrary(id: number): Promise<boolean> {
    return (await this.redis.hexists(this.keys.libraries, String(id))) === 1;
  }

  /**
   * Restores a record with its index entries (one script in its bucket), unless Redis
   * already holds this file version or a newer one. Only a 'ready' record joins the
   * checksum index: a record still 'processing' gets its claim from its ingest job,
   * which must see the other claims to catch a duplicate.
   * @returns whether the record was written (false: Redis already has it, or a newer file version).
   */
  async resource(rec: ResourceRecord): Promise<boolean> {
    const written = await this.catalog.casResource(rec.id, (cur) => (cur && cur.fileVersion >= rec.fileVersion ? 'stop' : rec));
    if (!written) return false;
    if (written.before?.checksum && written.before.checksum !== rec.checksum)
      await this.catalog.checksums.release(written.before.checksum, rec.id);
    if (rec.status === 'ready' && rec.checksum) await this.catalog.checksums.add(rec.checksum, rec.id);
    await this.raiseSequence(rec.id);
    return true;
  }

  /** The record as Redis holds it now. */
  current(id: number): Promise<ResourceRecord | undefined> {
    return this.catalog.getResource(id);
  }

  /** New ids must not reuse a restored one. */
  async raiseSequence(id: number): Promise<void> {
    await this.redis.miRaiseSeq(this.keys.resourceSeq, String(id));
  }

  /** Batch ids go past `id` too (see ReindexService.raisePastRetainedJobs). */
  async raiseBatchSequence(id: number): Promise<void> {
    await this.redis.miRaiseSeq(this.keys.batchSeq, String(id));
  }
}
