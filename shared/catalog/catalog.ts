import type { Redis } from 'ioredis';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { DedupePolicy, Library, RenditionPreset, ResourceRecord } from '../model.js';
import { BatchStore } from './batches.js';
import { ChecksumIndex } from './checksums.js';
import { decodeRecord, encodeRecord } from './codec.js';
import { MappingsStore } from './mappings.js';
import { OutcomeStore } from './outcomes.js';
import { catalogKeys, type CatalogKeys } from './keys.js';

export const DEFAULT_LIBRARY = 'default';
export const DEDUPE_POLICIES: readonly DedupePolicy[] = ['reject', 'reuse', 'allow'];

/** Library names: start with a letter, then letters, digits, `.`, `_`, `-`; never all digits (ids are). */
const LIBRARY_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

export interface NewLibrary {
  name: string;
  dedupe?: DedupePolicy;
  /** Normalised and checked against the configured presets by the caller (normaliseLibraryPresets). */
  presets?: (string | RenditionPreset)[];
  maxUploadBytes?: number | null;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null when this was the last. */
  nextCursor: string | null;
}

/**
 * Atomic multi-key updates as Lua, so a crash or a concurrent request never leaves a
 * record without its index entries (or the reverse).
 */
const SCRIPTS = {
  /** KEYS: names, libs · ARGV: lowercased name, id, json → 1 created, 0 name taken */
  miCreateLibrary: {
    numberOfKeys: 2,
    lua: `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`,
  },
  /** KEYS: resource, fileVersion guard · ARGV: expected fileVersion, field, value, … → 1 updated, 0 gone or superseded */
  miUpdateResource: {
    numberOfKeys: 1,
    lua: `
local v = redis.call('HGET', KEYS[1], 'fileVersion')
if not v or (ARGV[1] ~= '' and v ~= ARGV[1]) then return 0 end
local args = {}
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
if #args > 0 then redis.call('HSET', KEYS[1], unpack(args)) end
return 1`,
  },
  /**
   * KEYS: resource, all-index · ARGV: id, library-index key prefix, checksum-index key
   * prefix → the deleted hash, or nil. Releases the resource's checksum claim too.
   */
  miDeleteResource: {
    numberOfKeys: 2,
    lua: `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return nil end
local f = redis.call('HMGET', KEYS[1], 'library', 'checksum')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. f[1] .. ':res', ARGV[1])
if f[2] then redis.call('SREM', ARGV[3] .. f[2], ARGV[1]) end
return h`,
  },
} as const;

type ScriptRedis = Redis & {
  miCreateLibrary(names: string, libs: string, name: string, id: string, json: string): Promise<number>;
  miUpdateResource(key: string, fileVersion: string, ...fieldValues: string[]): Promise<number>;
  miDeleteResource(key: string, all: string, id: string, libPrefix: string, sumPrefix: string): Promise<string[] | null>;
};

/**
 * The Redis catalog: libraries, resource records and their indexes. Resource records
 * are compact (no full tag set); the complete JSON lives in object storage.
 */
export class Catalog {
  private readonly redis: ScriptRedis;
  readonly keys: CatalogKeys;
  /** The sha256 → resources index de-duplication claims on. */
  readonly checksums: ChecksumIndex;
  /** How jobs ended whose resource is gone (duplicates). */
  readonly outcomes: OutcomeStore;
  /** The versioned field mappings. */
  readonly mappings: MappingsStore;
  /** Bulk reverts and their progress. */
  readonly batches: BatchStore;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as ScriptRedis;
    this.prefix = prefix;
    this.keys = catalogKeys(prefix);
    this.checksums = new ChecksumIndex(redis, prefix);
    this.outcomes = new OutcomeStore(redis, prefix);
    this.mappings = new MappingsStore(redis, prefix);
    this.batches = new BatchStore(redis, prefix);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  // ── libraries ─────────────────────────────────────────────────────────────

  /** The `default` library always exists; creating it is idempotent and race-free. */
  async ensureDefaultLibrary(): Promise<Library> {
    const existing = await this.findLibrary(DEFAULT_LIBRARY);
    if (existing) return existing;
    try {
      return await this.createLibrary({ name: DEFAULT_LIBRARY });
    } catch (err) {
      if (err instanceof ConflictError) return this.getLibrary(DEFAULT_LIBRARY);
      throw err;
    }
  }

  async createLibrary(input: NewLibrary): Promise<Library> {
    const lib = validateNewLibrary(input);
    const id = await this.redis.incr(this.keys.librarySeq);
    const full: Library = { id, ...lib };
    const ok = await this.redis.miCreateLibrary(
      this.keys.libraryNames,
      this.keys.libraries,
      lib.name.toLowerCase(),
      String(id),
      JSON.stringify(full),
    );
    if (ok !== 1) throw new ConflictError(`A library named "${lib.name}" already exists; pick another name.`, { name: lib.name });
    return full;
  }

  /** By numeric id or by name (case-insensitive). */
  async findLibrary(idOrName: string | number): Promise<Library | undefined> {
    const s = String(idOrName);
    let id: string | null = s;
    if (!/^\d+$/.test(s)) id = await this.redis.hget(this.keys.libraryNames, s.toLowerCase());
    if (!id) return undefined;
    const json = await this.redis.hget(this.keys.libraries, id);
    return json ? (JSON.parse(json) as Library) : undefined;
  }

  async getLibrary(idOrName: string | number): Promise<Library> {
    const lib = await this.findLibrary(idOrName);
    if (!lib) throw new NotFoundError('library', idOrName);
    return lib;
  }

  async listLibraries(): Promise<Library[]> {
    const all = await this.redis.hvals(this.keys.libraries);
    return all.map((j) => JSON.parse(j) as Library).sort((a, b) => a.id - b.id);
  }

  // ── resources ─────────────────────────────────────────────────────────────

  /** Ids are allocated before the bytes are stored (the storage key carries the id); gaps are harmless. */
  async allocateResourceId(): Promise<number> {
    return this.redis.incr(this.keys.resourceSeq);
  }

  async createResources(records: ResourceRecord[]): Promise<void> {
    if (records.length === 0) return;
    const m = this.redis.multi();
    for (const r of records) {
      m.hset(this.keys.resource(r.id), encodeRecord(r));
      m.zadd(this.keys.libraryResources(r.library), r.id, String(r.id));
      m.zadd(this.keys.allResources, r.id, String(r.id));
      // Indexed by checksum from the start, so pre-flight and declared digests see
      // uploads still in processing; the ingest job's claim decides who stays.
      if (r.checksum) m.sadd(this.checksums.key(r.checksum), String(r.id));
    }
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  async getResource(id: number): Promise<ResourceRecord | undefined> {
    return decodeRecord(await this.redis.hgetall(this.keys.resource(id)));
  }

  async requireResource(id: number): Promise<ResourceRecord> {
    const r = await this.getResource(id);
    if (!r) throw new NotFoundError('resource', id);
    return r;
  }

  async getResources(ids: number[]): Promise<(ResourceRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(this.keys.resource(id));
    const res = (await p.exec()) ?? [];
    return res.map(([err, h]) => {
      if (err) throw err;
      return decodeRecord(h as Record<string, string>);
    });
  }

  /**
   * Patch a record, but only while it still exists and (when given) still has
   * `fileVersion` — a job for a replaced or deleted file must not write over the truth.
   * @returns whether the record was updated
   */
  async updateResource(id: number, fileVersion: number | undefined, patch: Partial<ResourceRecord>): Promise<boolean> {
    const flat = Object.entries(encodeRecord({ ...patch, id: undefined })).flat();
    const n = await this.redis.miUpdateResource(this.keys.resource(id), fileVersion === undefined ? '' : String(fileVersion), ...flat);
    return n === 1;
  }

  /** Removes the record and its index entries atomically; returns what was removed. */
  async deleteResource(id: number): Promise<ResourceRecord | undefined> {
    const flat = await this.redis.miDeleteResource(
      this.keys.resource(id),
      this.keys.allResources,
      String(id),
      this.keys.libraryResources(0).replace(/0:res$/, ''),
      this.checksums.key(''),
    );
    if (!flat) return undefined;
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    return decodeRecord(h);
  }

  /** Cursor pages in id order, from an index (never a scan of the whole keyspace). */
  async listResources(opts: { library?: number; cursor?: string; limit: number; filter?: ResourceFilter }): Promise<Page<ResourceRecord>> {
    const after = opts.cursor === undefined ? 0 : parseCursor(opts.cursor);
    const key = opts.library === undefined ? this.keys.allResources : this.keys.libraryResources(opts.library);
    if (opts.filter?.status || opts.filter?.type) return this.listFiltered(key, after, opts.limit, opts.filter);
    const ids = await this.redis.zrangebyscore(key, `(${after}`, '+inf', 'LIMIT', 0, opts.limit + 1);
    const pageIds = ids.slice(0, opts.limit).map(Number);
    const recs = (await this.getResources(pageIds)).filter((r): r is ResourceRecord => r !== undefined);
    return { items: recs, nextCursor: ids.length > opts.limit ? String(pageIds[pageIds.length - 1]) : null };
  }

  /**
   * A filtered page: the index is read in chunks and each record's status and type
   * checked (HMGET, two fields), until the page is full or FILTER_SCAN_MAX ids were
   * looked at. There is no index per status (a status changes with every job), so a rare
   * status costs a scan — bounded per request: the page may then hold fewer than `limit`
   * (even none) with a `nextCursor` to go on from where the scan stopped.
   */
  private async listFiltered(key: string, after: number, limit: number, filter: ResourceFilter): Promise<Page<ResourceRecord>> {
    const chunk = Math.max(limit * 2, 200);
    const matches: number[] = [];
    let scanned = 0;
    let last = after;
    for (;;) {
      const ids = (await this.redis.zrangebyscore(key, `(${last}`, '+inf', 'LIMIT', 0, chunk)).map(Number);
      const p = this.redis.pipeline();
      for (const id of ids) p.hmget(this.keys.resource(id), 'status', 'type');
      const rows = (await p.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        const [err, row] = rows[i]!;
        if (err) throw err;
        const [status, type] = row as (string | null)[];
        last = ids[i]!;
        scanned++;
        if (status !== null && (!filter.status || status === filter.status) && (!filter.type || type === filter.type)) {
          matches.push(ids[i]!);
          if (matches.length === limit) break;
        }
      }
      if (matches.length === limit || scanned >= FILTER_SCAN_MAX || ids.length < chunk) {
        const more = (await this.redis.zcount(key, `(${last}`, '+inf')) > 0;
        const recs = (await this.getResources(matches)).filter((r): r is ResourceRecord => r !== undefined);
        return { items: recs, nextCursor: more ? String(last) : null };
      }
    }
  }

  async countResources(library?: number): Promise<number> {
    return this.redis.zcard(library === undefined ? this.keys.allResources : this.keys.libraryResources(library));
  }
}

/** Most index entries one filtered page looks at (see listFiltered). */
const FILTER_SCAN_MAX = 5_000;

export interface ResourceFilter {
  status?: string;
  type?: string;
}

function parseCursor(c: string): number {
  if (!/^\d{1,15}$/.test(c)) throw new InvalidRequestError(`Expected cursor to be the "nextCursor" of a previous page (digits) but received "${c.slice(0, 40)}".`);
  return Number(c);
}

function validateNewLibrary(input: NewLibrary): Omit<Library, 'id'> {
  const problems: string[] = [];
  const name = input.name;
  if (typeof name !== 'string' || !LIBRARY_NAME.test(name)) {
    problems.push(`Expected name to be 1-64 characters: a letter, then letters, digits, ".", "_" or "-" but received ${JSON.stringify(name)}.`);
  }
  const dedupe = input.dedupe ?? 'reject';
  if (!DEDUPE_POLICIES.includes(dedupe)) problems.push(`Expected dedupe to be one of ${DEDUPE_POLICIES.join(', ')} but received ${JSON.stringify(dedupe)}.`);
  const presets = input.presets ?? [];
  if (!Array.isArray(presets) || presets.some((p) => (typeof p !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(p)) && (typeof p !== 'object' || p === null))) {
    problems.push('Expected presets to be an array of preset names (a-z 0-9 _ -) or preset objects.');
  }
  const maxUploadBytes = input.maxUploadBytes ?? null;
  if (maxUploadBytes !== null && (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes < 1)) {
    problems.push(`Expected maxUploadBytes to be a positive integer or null but received ${JSON.stringify(maxUploadBytes)}.`);
  }
  if (problems.length) throw new InvalidRequestError(problems.join(' '), { problems });
  return { name, dedupe, presets: [...presets], maxUploadBytes, created: new Date().toISOString() };
}
