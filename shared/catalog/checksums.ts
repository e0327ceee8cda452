import type { DedupePolicy, ResourceRecord } from '../model.js';
import type { RedisConnection } from '../redis.js';
import { catalogKeys, type CatalogKeys } from './keys.js';
import { perGroup } from './per-node.js';

/**
 * The checksum index: for each sha256, the resource ids holding those bytes (any
 * library), as one field of a small hash in the checksum's bucket (keys.ts). A
 * resource joins it when its record is created (so pre-flight sees uploads still in
 * processing); the claim its ingest job makes decides whether it may stay.
 *
 * A member counts only while its record exists, still has this checksum and has not
 * failed; stale members (deleted, replaced) are pruned on the way, so the index heals.
 *
 * The records live in other buckets (other slots, other masters), so a claim is not
 * one Lua script: it reads the members and their records and decides from their
 * statuses and ids alone, which makes every concurrent claimant reach the same
 * answer — a resource duplicates another of its library that is `ready`, or that is
 * still processing and was uploaded earlier (lower id): the first upload wins,
 * whichever job runs first. Every upload is a member before its job runs, so none
 * can miss an earlier one.
 */
const SCRIPTS = {
  /** KEYS: hash · ARGV: field, id → 1 added, 0 already a member */
  miSumAdd: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
for id in string.gmatch(cur, '[^,]+') do if id == ARGV[2] then return 0 end end
redis.call('HSET', KEYS[1], ARGV[1], cur .. ',' .. ARGV[2])
return 1`,
  },
  /** KEYS: hash · ARGV: field, id… → members left */
  miSumRemove: {
    numberOfKeys: 1,
    lua: `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local gone = {}
for i = 2, #ARGV do gone[ARGV[i]] = true end
local keep = {}
for id in string.gmatch(cur, '[^,]+') do if not gone[id] then keep[#keep + 1] = id end end
if #keep == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], table.concat(keep, ',')) end
return #keep`,
  },
} as const;

type SumRedis = RedisConnection & {
  miSumAdd(key: string, field: string, id: string): Promise<number>;
  miSumRemove(key: string, field: string, ...ids: string[]): Promise<number>;
};

export interface ChecksumMatch {
  id: number;
  library: number;
}

/** Lower-case hex SHA-256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** How the index reads records (the catalog's pipelined, per-node read). */
export type ReadRecords = (ids: number[]) => Promise<(ResourceRecord | undefined)[]>;

export class ChecksumIndex {
  private readonly redis: SumRedis;
  private readonly keys: CatalogKeys;

  constructor(
    redis: RedisConnection,
    prefix: string,
    private readonly readRecords: ReadRecords,
  ) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as SumRedis;
    this.keys = catalogKeys(prefix);
  }

  /** The resource ids indexed under `sha` (stale members included). */
  async members(sha: string): Promise<number[]> {
    const { key, field } = this.keys.checksum(sha);
    return parseIds(await this.redis.hget(key, field));
  }

  /**
   * Claim `sha` for resource `id` in `library`. Under `allow` it always succeeds (the
   * resource is only indexed). Otherwise returns the ids of the resources in the library
   * that already hold these bytes — empty means the claim is ours. Idempotent.
   */
  async claim(sha: string, id: number, library: number, policy: DedupePolicy, firstComeWins = false): Promise<number[]> {
    const members = (await this.members(sha)).filter((m) => m !== id);
    const [me, ...others] = await this.readRecords([id, ...(policy === 'allow' ? [] : members)]);
    // Already ready (a re-run of a job that finished its work, or a revert): the claim
    // stands, even if the library's policy changed since.
    if (me?.status === 'ready' || policy === 'allow') {
      await this.add(sha, id);
      return [];
    }
    // Report the ready matches; failing those, the earliest upload in processing (the
    // one that will stay), not every later duplicate that is about to be removed too.
    const ready: number[] = [];
    const stale: number[] = [];
    let earliest: number | undefined;
    others.forEach((rec, i) => {
      const other = members[i]!;
      if (!rec || rec.checksum !== sha) stale.push(other);
      else if (rec.library !== library) return;
      else if (rec.status === 'ready') ready.push(other);
      // An external library's files are indexed by their jobs, one at a time (under the
      // checksum's claim lock), not at creation: whoever was indexed first holds the bytes.
      else if (rec.status === 'processing' && (firstComeWins || other < id) && (earliest === undefined || other < earliest))
        earliest = other;
    });
    if (stale.length) await this.prune(sha, stale);
    const matches = ready.length ? ready : earliest !== undefined ? [earliest] : [];
    if (matches.length === 0) await this.add(sha, id);
    return matches.sort((a, b) => a - b);
  }

  /**
   * Serialises the claims of one checksum (external libraries' jobs, which learn it only
   * as they run): held from indexing to claiming, expires if the job dies in between.
   */
  async lockClaim(sha: string, id: number, timeoutMs = 30_000): Promise<void> {
    const key = this.keys.claimLock(sha);
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      if ((await this.redis.set(key, String(id), 'PX', timeoutMs, 'NX')) === 'OK' || (await this.redis.get(key)) === String(id)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async unlockClaim(sha: string, id: number): Promise<void> {
    const key = this.keys.claimLock(sha);
    if ((await this.redis.get(key)) === String(id)) await this.redis.del(key);
  }

  /** Index without claiming (a new or replaced file, before its job claims). */
  async add(sha: string, id: number): Promise<void> {
    const { key, field } = this.keys.checksum(sha);
    await this.redis.miSumAdd(key, field, String(id));
  }

  async release(sha: string, id: number): Promise<void> {
    await this.prune(sha, [id]);
  }

  private async prune(sha: string, ids: number[]): Promise<void> {
    const { key, field } = this.keys.checksum(sha);
    await this.redis.miSumRemove(key, field, ...ids.map(String));
  }

  /**
   * Which of these checksums exist, and as which resources (not failed, optionally in
   * one library). Two pipelined passes grouped per node — the index, then the records
   * it names — so a 10,000-value pre-flight is a few round trips, not 10,000.
   */
  async lookup(shas: readonly string[], library?: number): Promise<Map<string, ChecksumMatch[]>> {
    const out = new Map<string, ChecksumMatch[]>();
    const at = shas.map((s) => this.keys.checksum(s));
    // One HMGET per hash: the fields of every sha sharing its first hex digits.
    const raw = await perGroup<string | null>(
      this.redis,
      at.map((a) => a.key),
      (p, idx) => p.hmget(at[idx[0]!]!.key, ...idx.map((i) => at[i]!.field)),
      (key) => key,
    );
    const owners: { sha: string; id: number }[] = [];
    raw.forEach((v, i) => {
      for (const id of parseIds(v)) owners.push({ sha: shas[i]!, id });
    });
    const recs = await this.readRecords(owners.map((o) => o.id));
    owners.forEach(({ sha, id }, i) => {
      const rec = recs[i];
      if (!rec || rec.checksum !== sha || rec.status === 'failed') return;
      if (library !== undefined && rec.library !== library) return;
      const list = out.get(sha) ?? [];
      list.push({ id, library: rec.library });
      out.set(sha, list);
    });
    for (const list of out.values()) list.sort((a, b) => a.id - b.id);
    return out;
  }
}

function parseIds(v: string | null): number[] {
  return v ? v.split(',').map(Number) : [];
}
