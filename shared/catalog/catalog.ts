import { isCluster, type RedisConnection } from '../redis.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { DedupePolicy, Library, LibrarySource, RenditionPreset, ResourceRecord } from '../model.js';
import { BatchStore } from './batches.js';
import { ChecksumIndex } from './checksums.js';
import { decodeRecord, encodeRecord } from './codec.js';
import { BUCKETS, bucketOfId, catalogKeys, CHUNK_IDS, type CatalogKeys } from './keys.js';
import { MappingsStore } from './mappings.js';
import { migrateLegacyCatalog } from './migrate.js';
import { OutcomeStore } from './outcomes.js';
import { mgetAll, perKey } from './per-node.js';

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
  /** Checked by the caller (shared/external/source.ts parseLibrarySource: it needs the disk and S3). */
  source?: LibrarySource;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null when this was the last. */
  nextCursor: string | null;
}

/**
 * Atomic multi-key updates as Lua, so a crash or a concurrent request never leaves a
 * record without its index entries (or the reverse). Every key a script touches is in
 * KEYS and in one slot: a record and its index entries share its bucket (keys.ts).
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
  /**
   * Create, update or delete one record with its index entries and counts, as
   * compare-and-set: the stored string must still be the one the caller read.
   * KEYS: record, counts, all-index chunk, old library's index chunk, new library's index chunk
   * ARGV: expected ('' = must not exist), new value ('' = delete), id, old library ('' = none), new library
   * → 1 written, 0 the record changed meanwhile (read again)
   */
  miPutResource: {
    numberOfKeys: 5,
    lua: `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
local id, old, new = ARGV[3], ARGV[4], ARGV[5]
if ARGV[2] == '' then new = '' end
if old ~= new then
  if old ~= '' then redis.call('ZREM', KEYS[4], id); redis.call('HINCRBY', KEYS[2], old, -1) end
  if new ~= '' then redis.call('ZADD', KEYS[5], id, id); redis.call('HINCRBY', KEYS[2], new, 1) end
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], id)
  redis.call('HINCRBY', KEYS[2], 'a', -1)
else
  redis.call('SET', KEYS[1], ARGV[2])
  if not cur then
    redis.call('ZADD', KEYS[3], id, id)
    redis.call('HINCRBY', KEYS[2], 'a', 1)
  end
end
return 1`,
  },
} as const;

type ScriptRedis = RedisConnection & {
  miCreateLibrary(names: string, libs: string, name: string, id: string, json: string): Promise<number>;
  miPutResource(
    rec: string,
    counts: string,
    all: string,
    oldLib: string,
    newLib: string,
    expected: string,
    value: string,
    id: string,
    oldLibId: string,
    newLibId: string,
  ): Promise<number>;
};

/** Compare-and-set rounds before giving up: each lost round means another writer won one. */
const CAS_ROUNDS = 20;

/**
 * The Redis catalog: libraries, resource records and their indexes. Resource records
 * are compact (no full tag set); the complete JSON lives in object storage.
 *
 * Records and their index entries are spread over the BUCKETS hash-tag buckets of
 * keys.ts; listings and counts read every bucket in pipelines grouped per node
 * (per-node.ts), so they work the same on one Redis and on a cluster.
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
  readonly prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as ScriptRedis;
    this.prefix = prefix;
    this.keys = catalogKeys(prefix);
    this.checksums = new ChecksumIndex(redis, prefix, (ids) => this.getResources(ids));
    this.outcomes = new OutcomeStore(redis, prefix);
    this.mappings = new MappingsStore(redis, prefix);
    this.batches = new BatchStore(redis, prefix);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Brings data of an older layout to this one (migrate.ts); cheap when there is none. */
  async migrate(): Promise<number> {
    return migrateLegacyCatalog(this.redis, this.prefix, this);
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

  /**
   * Ids are allocated before the bytes are stored (the storage key carries the id); gaps
   * are harmless. An id whose record exists is skipped: after a cluster failover the
   * promoted replica's sequence can lag behind ids already handed out (asynchronous
   * replication), and reusing one would overwrite another resource's objects. (One
   * Redis with AOF keeps its sequence with its records: no check there.)
   */
  async allocateResourceId(): Promise<number> {
    for (;;) {
      const id = await this.redis.incr(this.keys.resourceSeq);
      if (!isCluster(this.redis) || (await this.redis.exists(this.keys.resource(id))) === 0) return id;
    }
  }

  async createResources(records: ResourceRecord[]): Promise<void> {
    if (records.length === 0) return;
    // Indexed by checksum from the start, so pre-flight and declared digests see
    // uploads still in processing; the ingest job's claim decides who stays. Before
    // the record: a member without a record is ignored (and pruned) by readers.
    await Promise.all([this.noteChunks(records), ...records.filter((r) => r.checksum).map((r) => this.checksums.add(r.checksum, r.id))]);
    // Creating twice (a retried request) leaves the first record: its id is ours alone.
    await perKey(
      this.redis,
      records.map((r) => this.keys.resource(r.id)),
      (p, _key, i) => {
        const r = records[i]!;
        (p as unknown as Pick<ScriptRedis, 'miPutResource'>).miPutResource(
          ...this.putKeys(r.id, undefined, r.library),
          '',
          encodeRecord(r),
          String(r.id),
          '',
          String(r.library),
        );
      },
    );
  }

  async getResource(id: number): Promise<ResourceRecord | undefined> {
    return decodeRecord(await this.redis.get(this.keys.resource(id)));
  }

  async requireResource(id: number): Promise<ResourceRecord> {
    const r = await this.getResource(id);
    if (!r) throw new NotFoundError('resource', id);
    return r;
  }

  async getResources(ids: number[]): Promise<(ResourceRecord | undefined)[]> {
    const raw = await mgetAll(
      this.redis,
      ids.map((id) => this.keys.resource(id)),
    );
    return raw.map((s) => decodeRecord(s));
  }

  /** The stored strings of many records (null when missing), for `putResourcesIfUnchanged`. */
  async getResourcesRaw(ids: number[]): Promise<(string | null)[]> {
    return mgetAll(
      this.redis,
      ids.map((id) => this.keys.resource(id)),
    );
  }

  /**
   * Writes many records, each only if its stored string is still `raw` (what the caller
   * read; `encoded`: `next` encoded, if the caller has it), in pipelines per node: one script per record, in its bucket's slot, no round
   * trip per record. For updates that keep the library (the index entries stay).
   * @returns per item whether it was written; false: it changed meanwhile (read again)
   */
  async putResourcesIfUnchanged(items: { raw: string; next: ResourceRecord; encoded?: string }[]): Promise<boolean[]> {
    const replies = await perKey<number>(
      this.redis,
      items.map((it) => this.keys.resource(it.next.id)),
      (p, _key, i) => {
        const { raw, next, encoded } = items[i]!;
        (p as unknown as Pick<ScriptRedis, 'miPutResource'>).miPutResource(
          ...this.putKeys(next.id, next.library, next.library),
          raw,
          encoded ?? encodeRecord(next),
          String(next.id),
          String(next.library),
          String(next.library),
        );
      },
    );
    return replies.map((r) => r === 1);
  }

  /**
   * Patch a record, but only while it still exists and (when given) still has
   * `fileVersion` — a job for a replaced or deleted file must not write over the truth.
   * @returns whether the record was updated
   */
  async updateResource(id: number, fileVersion: number | undefined, patch: Partial<ResourceRecord>): Promise<boolean> {
    const written = await this.casResource(id, (cur) => {
      if (!cur || (fileVersion !== undefined && cur.fileVersion !== fileVersion)) return 'stop';
      return { ...cur, ...stripUndefined(patch), id };
    });
    return written !== undefined;
  }

  /** Removes the record and its index entries atomically (and its checksum claim); returns what was removed. */
  async deleteResource(id: number): Promise<ResourceRecord | undefined> {
    let removed: ResourceRecord | undefined;
    await this.casResource(id, (cur) => {
      removed = cur;
      return cur ? null : 'stop';
    });
    if (removed?.checksum) await this.checksums.release(removed.checksum, id);
    return removed;
  }

  /**
   * Writes the record `next(current)` returns (null deletes it, 'stop' leaves it) by
   * compare-and-set, reading again when another writer changed it in between.
   * @returns the record as read in the round that wrote, undefined when stopped
   */
  async casResource(
    id: number,
    next: (cur: ResourceRecord | undefined) => ResourceRecord | null | 'stop',
  ): Promise<{ before: ResourceRecord | undefined } | undefined> {
    const key = this.keys.resource(id);
    for (let round = 0; round < CAS_ROUNDS; round++) {
      const raw = await this.redis.get(key);
      const cur = decodeRecord(raw);
      const want = next(cur);
      if (want === 'stop') return undefined;
      if (want === null && !cur) return undefined;
      if (want) await this.noteChunks([want]);
      const ok = await this.redis.miPutResource(
        ...this.putKeys(id, cur?.library, want?.library),
        raw ?? '',
        want ? encodeRecord(want) : '',
        String(id),
        cur ? String(cur.library) : '',
        want ? String(want.library) : '',
      );
      if (ok === 1) return { before: cur };
    }
    throw new Error(`Resource ${id} kept changing during ${CAS_ROUNDS} attempts to update it; try again.`);
  }

  private putKeys(id: number, oldLib: number | undefined, newLib: number | undefined): [string, string, string, string, string] {
    const b = bucketOfId(id);
    const chunk = Math.floor(id / CHUNK_IDS);
    const lib = (l: number | undefined) => this.keys.index(l ?? 0, chunk, b);
    return [this.keys.resource(id), this.keys.counts(b), this.keys.index('a', chunk, b), lib(oldLib ?? newLib), lib(newLib ?? oldLib)];
  }

  /** Records which index chunks may hold entries (a superset: written before the entries). */
  private async noteChunks(records: Pick<ResourceRecord, 'id' | 'library'>[]): Promise<void> {
    const seen = new Set<string>();
    const m = this.redis.multi();
    for (const r of records) {
      const chunk = Math.floor(r.id / CHUNK_IDS);
      for (const scope of ['a', r.library] as const) {
        const k = `${scope}:${chunk}`;
        if (seen.has(k)) continue;
        seen.add(k);
        m.zadd(this.keys.indexChunks(scope), chunk, String(chunk));
      }
    }
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /**
   * Cursor pages in id order, from the index (never a scan of the whole keyspace): the
   * index chunks in order, each read from every bucket at once, until the page is full.
   */
  async listResources(opts: { library?: number; cursor?: string; limit: number; filter?: ResourceFilter }): Promise<Page<ResourceRecord>> {
    const after = opts.cursor === undefined ? 0 : parseCursor(opts.cursor);
    if (opts.filter?.status || opts.filter?.type) return this.listFiltered(opts.library, after, opts.limit, opts.filter);
    const ids = await this.listIds({ ...(opts.library !== undefined ? { library: opts.library } : {}), after, limit: opts.limit + 1 });
    const pageIds = ids.slice(0, opts.limit);
    const recs = (await this.getResources(pageIds)).filter((r): r is ResourceRecord => r !== undefined);
    return { items: recs, nextCursor: ids.length > opts.limit ? String(pageIds[pageIds.length - 1]) : null };
  }

  /** The first `limit` resource ids after `after`, in id order. */
  async listIds(opts: { library?: number; after: number; limit: number }): Promise<number[]> {
    const scope = opts.library ?? 'a';
    const chunks = (await this.redis.zrangebyscore(this.keys.indexChunks(scope), Math.floor(opts.after / CHUNK_IDS), '+inf')).map(Number);
    const out: number[] = [];
    for (const chunk of chunks) {
      const keys = Array.from({ length: BUCKETS }, (_, b) => this.keys.index(scope, chunk, b));
      const lists = await perKey<string[]>(this.redis, keys, (p, key) =>
        p.zrangebyscore(key, `(${opts.after}`, '+inf', 'LIMIT', 0, opts.limit - out.length),
      );
      const found = lists
        .flat()
        .map(Number)
        .sort((a, b) => a - b);
      out.push(...found.slice(0, opts.limit - out.length));
      if (out.length >= opts.limit) break;
    }
    return out;
  }

  /**
   * A filtered page: the index is read in chunks and each record's status and type
   * checked, until the page is full or FILTER_SCAN_MAX ids were looked at. There is no
   * index per status (a status changes with every job), so a rare status costs a scan —
   * bounded per request: the page may then hold fewer than `limit` (even none) with a
   * `nextCursor` to go on from where the scan stopped.
   */
  private async listFiltered(
    library: number | undefined,
    after: number,
    limit: number,
    filter: ResourceFilter,
  ): Promise<Page<ResourceRecord>> {
    const chunk = Math.max(limit * 2, 200);
    const matches: ResourceRecord[] = [];
    let scanned = 0;
    let last = after;
    for (;;) {
      const ids = await this.listIds({ ...(library !== undefined ? { library } : {}), after: last, limit: chunk });
      const recs = await this.getResources(ids);
      for (let i = 0; i < ids.length && matches.length < limit; i++) {
        last = ids[i]!;
        scanned++;
        const r = recs[i];
        if (r && (!filter.status || r.status === filter.status) && (!filter.type || r.type === filter.type)) matches.push(r);
      }
      const stopped = matches.length === limit || scanned >= FILTER_SCAN_MAX;
      if (stopped || ids.length < chunk) {
        const more = stopped && (await this.listIds({ ...(library !== undefined ? { library } : {}), after: last, limit: 1 })).length > 0;
        return { items: matches, nextCursor: more ? String(last) : null };
      }
    }
  }

  async countResources(library?: number): Promise<number> {
    const field = library === undefined ? 'a' : String(library);
    const counts = await perKey<string | null>(
      this.redis,
      Array.from({ length: BUCKETS }, (_, b) => this.keys.counts(b)),
      (p, key) => p.hget(key, field),
    );
    return counts.reduce((sum, n) => sum + Number(n ?? 0), 0);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Most index entries one filtered page looks at (see listFiltered). */
const FILTER_SCAN_MAX = 5_000;

export interface ResourceFilter {
  status?: string;
  type?: string;
}

function parseCursor(c: string): number {
  if (!/^\d{1,15}$/.test(c))
    throw new InvalidRequestError(`Expected cursor to be the "nextCursor" of a previous page (digits) but received "${c.slice(0, 40)}".`);
  return Number(c);
}

function validateNewLibrary(input: NewLibrary): Omit<Library, 'id'> {
  const problems: string[] = [];
  const name = input.name;
  if (typeof name !== 'string' || !LIBRARY_NAME.test(name)) {
    problems.push(
      `Expected name to be 1-64 characters: a letter, then letters, digits, ".", "_" or "-" but received ${JSON.stringify(name)}.`,
    );
  }
  const dedupe = input.dedupe ?? 'reject';
  if (!DEDUPE_POLICIES.includes(dedupe))
    problems.push(`Expected dedupe to be one of ${DEDUPE_POLICIES.join(', ')} but received ${JSON.stringify(dedupe)}.`);
  const presets = input.presets ?? [];
  if (
    !Array.isArray(presets) ||
    presets.some((p) => (typeof p !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(p)) && (typeof p !== 'object' || p === null))
  ) {
    problems.push('Expected presets to be an array of preset names (a-z 0-9 _ -) or preset objects.');
  }
  const maxUploadBytes = input.maxUploadBytes ?? null;
  if (maxUploadBytes !== null && (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes < 1)) {
    problems.push(`Expected maxUploadBytes to be a positive integer or null but received ${JSON.stringify(maxUploadBytes)}.`);
  }
  if (problems.length) throw new InvalidRequestError(problems.join(' '), { problems });
  return {
    name,
    dedupe,
    presets: [...presets],
    maxUploadBytes,
    ...(input.source ? { source: input.source } : {}),
    created: new Date().toISOString(),
  };
}
