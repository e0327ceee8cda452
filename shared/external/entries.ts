import { createHash } from 'node:crypto';
import { catalogKeys, type CatalogKeys } from '../catalog/keys.js';
import { perKey } from '../catalog/per-node.js';
import type { RedisConnection } from '../redis.js';

/**
 * What the service knows of one entry of a source: its resource and the stamp its file
 * had when that file version was made. Kept in Redis per entry (keys.ts externalEntry).
 */
export interface EntryState {
  /** The resource id: fixed for the entry's life, so it has exactly one resource. */
  id: number;
  /** The resource's file version for the current stamp. */
  v: number;
  stamp: string;
  /** The last scan (batch id) or event (a number from the same sequence) that saw it. */
  seen: number;
  /** The scan or event that set `v`: a resource missing under an older `t` was deleted on purpose. */
  t: number;
  /** When it was found gone (ms since the epoch), while it is. */
  missing?: number;
}

/**
 * How an entry compares with what was known:
 * - `new`: first seen; `id` is the candidate the caller allocated, now the entry's.
 * - `changed`: its stamp changed, or it came back after going missing: version `v` is next.
 * - `again`: this same scan or event set the version already (a re-run after a crash).
 * - `same`: unchanged.
 */
export type ClaimKind = 'new' | 'changed' | 'again' | 'same';

const SCRIPTS = {
  /**
   * The claim, atomic per entry: two scans, a scan and an event, or a scan re-run after
   * a crash agree on one resource id and one version per stamp.
   * KEYS: entry hash · ARGV: field, candidate id ('0': none yet), stamp, seen-by
   * → [kind, state json], or ['absent', ''] for an unknown entry without a candidate
   */
  miExtClaim: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local by = tonumber(ARGV[4])
local e, kind
if not cur then
  if ARGV[2] == '0' then return { 'absent', '' } end
  e = { id = tonumber(ARGV[2]), v = 1, stamp = ARGV[3], seen = by, t = by }
  kind = 'new'
else
  e = cjson.decode(cur)
  if e.stamp ~= ARGV[3] or e.missing then
    e.v = e.v + 1; e.stamp = ARGV[3]; e.t = by; e.missing = nil
    kind = 'changed'
  elseif e.t == by then
    kind = 'again'
  else
    kind = 'same'
  end
  if by > e.seen then e.seen = by end
end
local out = cjson.encode(e)
redis.call('HSET', KEYS[1], ARGV[1], out)
return { kind, out }`,
  },
  /**
   * Marks an entry gone, unless something saw it after \`before\` (an event during the
   * scan) or it is already. KEYS: entry hash · ARGV: field, before, now → state json | false
   */
  miExtMissing: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
local e = cjson.decode(cur)
if e.seen >= tonumber(ARGV[2]) or e.missing then return false end
e.missing = tonumber(ARGV[3])
local out = cjson.encode(e)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out`,
  },
  /**
   * The missing pass of a scan, one entry: miExtMissing, and when it marks nothing the
   * entry's state as it is, so a page of resources costs one pipelined round trip (per
   * node), not two per resource. KEYS: entry hash · ARGV: field, before, now
   * → ['marked' | 'kept', state json], or ['absent', '']
   */
  miExtSweep: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return { 'absent', '' } end
local e = cjson.decode(cur)
if e.seen >= tonumber(ARGV[2]) or e.missing then return { 'kept', cur } end
e.missing = tonumber(ARGV[3])
local out = cjson.encode(e)
redis.call('HSET', KEYS[1], ARGV[1], out)
return { 'marked', out }`,
  },
  /**
   * Reindex: an entry the catalog lost is known again from its resource's record copy,
   * unless the map still has it. Its stamp is unknown (the copy does not keep it), so the
   * next scan sees the file as changed and processes it once more, under the same id.
   * KEYS: entry hash · ARGV: field, state json → 1 when set
   */
  miExtAdopt: {
    numberOfKeys: 1,
    lua: `return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])`,
  },
} as const;

type EntryRedis = RedisConnection & {
  miExtClaim(key: string, field: string, candidate: string, stamp: string, by: string): Promise<[ClaimKind | 'absent', string]>;
  miExtMissing(key: string, field: string, before: string, now: string): Promise<string | null>;
  miExtAdopt(key: string, field: string, state: string): Promise<number>;
};
type SweepReply = ['marked' | 'kept' | 'absent', string];
type SweepPipeline = { miExtSweep(key: string, field: string, before: string, now: string): unknown };

/** What the missing pass found of one entry: whether it marked it missing now, and its state. */
export interface SweepOutcome {
  marked: boolean;
  state: EntryState | undefined;
}

/** The entry → resource map of external libraries. */
export class EntryMap {
  private readonly redis: EntryRedis;
  private readonly keys: CatalogKeys;

  constructor(redis: RedisConnection, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as EntryRedis;
    this.keys = catalogKeys(prefix);
  }

  private at(libraryId: number, sourceKey: string) {
    return this.keys.externalEntry(libraryId, createHash('sha256').update(sourceKey).digest('hex'));
  }

  /** With candidate 0, an unknown entry answers undefined (and the caller allocates an id). */
  async claim(
    libraryId: number,
    sourceKey: string,
    candidate: number,
    stamp: string,
    by: number,
  ): Promise<{ kind: ClaimKind; state: EntryState } | undefined> {
    const { key, field } = this.at(libraryId, sourceKey);
    const [kind, json] = await this.redis.miExtClaim(key, field, String(candidate), stamp, String(by));
    if (kind === 'absent') return undefined;
    return { kind, state: JSON.parse(json) as EntryState };
  }

  async get(libraryId: number, sourceKey: string): Promise<EntryState | undefined> {
    const { key, field } = this.at(libraryId, sourceKey);
    const json = await this.redis.hget(key, field);
    return json ? (JSON.parse(json) as EntryState) : undefined;
  }

  /** @returns the new state when this call marked it missing */
  async markMissing(libraryId: number, sourceKey: string, before: number, now = Date.now()): Promise<EntryState | undefined> {
    const { key, field } = this.at(libraryId, sourceKey);
    const json = await this.redis.miExtMissing(key, field, String(before), String(now));
    return json ? (JSON.parse(json) as EntryState) : undefined;
  }

  /**
   * The missing pass over a page of entries (miExtSweep), pipelined per Redis node
   * (per-node.ts): their entry hashes are spread over every bucket, so on a cluster one
   * pipeline per master.
   */
  async sweepMany(libraryId: number, sourceKeys: readonly string[], before: number, now = Date.now()): Promise<SweepOutcome[]> {
    const at = sourceKeys.map((k) => this.at(libraryId, k));
    const replies = await perKey<SweepReply>(
      this.redis,
      at.map((a) => a.key),
      (p, key, i) => (p as unknown as SweepPipeline).miExtSweep(key, at[i]!.field, String(before), String(now)),
    );
    return replies.map(([kind, json]) => ({
      marked: kind === 'marked',
      state: kind === 'absent' ? undefined : (JSON.parse(json) as EntryState),
    }));
  }

  /** @returns whether the entry was unknown and now names `id` at file version `v` (see miExtAdopt) */
  async adopt(libraryId: number, sourceKey: string, id: number, v: number): Promise<boolean> {
    const { key, field } = this.at(libraryId, sourceKey);
    const state: EntryState = { id, v, stamp: '', seen: 0, t: 0 };
    return (await this.redis.miExtAdopt(key, field, JSON.stringify(state))) === 1;
  }

  async forget(libraryId: number, sourceKey: string): Promise<void> {
    const { key, field } = this.at(libraryId, sourceKey);
    await this.redis.hdel(key, field);
  }
}
