import type { Redis } from 'ioredis';
import type { Library, ResourceRecord } from '../model.js';
import { ChecksumIndex } from './checksums.js';
import { encodeRecord } from './codec.js';
import { catalogKeys, type CatalogKeys } from './keys.js';

/**
 * Writes that bring the catalog back from the JSON copies in object storage
 * (`reindex`). Each is one Lua script, so a record never lands without its index
 * entries, and each is idempotent: running a reindex twice, or over a catalog that is
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
  /**
   * KEYS: record, all-index, library index, checksum set, resource seq
   * ARGV: id, fileVersion, index the checksum (1|0), field, value, …
   * → 1 restored, 0 Redis already holds this file version or a newer one
   *
   * Only a 'ready' record joins the checksum index: a record still 'processing' gets its
   * claim from its ingest job, which must see the other claims to catch a duplicate.
   */
  miRestoreResource: {
    numberOfKeys: 5,
    lua: `
local v = redis.call('HGET', KEYS[1], 'fileVersion')
if v and tonumber(v) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
local args = {}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(args))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
if ARGV[3] == '1' then redis.call('SADD', KEYS[4], ARGV[1]) end
if (tonumber(redis.call('GET', KEYS[5])) or 0) < tonumber(ARGV[1]) then redis.call('SET', KEYS[5], ARGV[1]) end
return 1`,
  },
} as const;

type RestoreRedis = Redis & {
  miRestoreLibrary(names: string, libs: string, seq: string, name: string, id: string, json: string): Promise<number>;
  miRestoreResource(rec: string, all: string, lib: string, sum: string, seq: string, id: string, fileVersion: string, indexSum: string, ...fv: string[]): Promise<number>;
};

export type LibraryRestore = 'restored' | 'unchanged' | 'conflict';

export class CatalogRestore {
  private readonly redis: RestoreRedis;
  private readonly keys: CatalogKeys;
  private readonly checksums: ChecksumIndex;

  constructor(redis: Redis, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as RestoreRedis;
    this.keys = catalogKeys(prefix);
    this.checksums = new ChecksumIndex(redis, prefix);
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

  /** @returns whether the record was written (false: Redis already has it, or a newer file version). */
  async resource(rec: ResourceRecord): Promise<boolean> {
    const flat = Object.entries(encodeRecord(rec)).flat();
    const n = await this.redis.miRestoreResource(
      this.keys.resource(rec.id),
      this.keys.allResources,
      this.keys.libraryResources(rec.library),
      this.checksums.key(rec.checksum),
      this.keys.resourceSeq,
      String(rec.id),
      String(rec.fileVersion),
      rec.status === 'ready' ? '1' : '0',
      ...flat,
    );
    return n === 1;
  }
}
