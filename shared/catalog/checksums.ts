import type { Redis } from 'ioredis';
import type { DedupePolicy } from '../model.js';
import { keyPrefix } from '../redis.js';

/**
 * The checksum index: for each sha256, the set of resource ids holding those bytes
 * (any library). A resource joins it when its record is created (so pre-flight sees
 * uploads still in processing); the claim its ingest job makes decides whether it may
 * stay. The claim is one Lua script, so N concurrent uploads of the same bytes into a
 * library agree on one winner: a resource duplicates another of its library that is
 * `ready`, or that is still processing and was uploaded earlier (lower id) — the
 * first upload wins, whichever job runs first.
 *
 * A member counts only while its record exists, still has this checksum and has not
 * failed; stale members (deleted, replaced) are pruned on the way, so the index heals.
 */
const CLAIM = `
-- Already ready (a re-run of a job that finished its work, or a revert): the claim
-- stands, even if the library's policy changed since.
if redis.call('HGET', ARGV[4] .. ARGV[1], 'status') == 'ready' then
  redis.call('SADD', KEYS[1], ARGV[1])
  return {}
end
-- Report the ready matches; failing those, the earliest upload in processing (the
-- one that will stay), not every later duplicate that is about to be removed too.
local matches = {}
local earliest = nil
if ARGV[3] ~= 'allow' then
  local me = tonumber(ARGV[1])
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if id ~= ARGV[1] then
      local h = redis.call('HMGET', ARGV[4] .. id, 'library', 'checksum', 'status')
      local n = tonumber(id)
      if not h[1] or h[2] ~= ARGV[5] then
        redis.call('SREM', KEYS[1], id)
      elseif h[1] == ARGV[2] and h[3] == 'ready' then
        matches[#matches + 1] = id
      elseif h[1] == ARGV[2] and h[3] == 'processing' and n < me and (earliest == nil or n < earliest) then
        earliest = n
      end
    end
  end
end
if #matches == 0 and earliest ~= nil then matches[1] = tostring(earliest) end
if #matches == 0 then redis.call('SADD', KEYS[1], ARGV[1]) end
return matches`;

/**
 * KEYS: checksum sets · ARGV: resource key prefix, library filter ('' for any), then
 * the checksums in KEYS order → flat {index, id, library, …} of live matches. One
 * server-side pass: a 10,000-value pre-flight is one command, not 15,000.
 */
const LOOKUP = `
local out = {}
local n = #KEYS
for i = 1, n do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local h = redis.call('HMGET', ARGV[1] .. id, 'library', 'checksum', 'status')
    if h[1] and h[2] == ARGV[2 + i] and h[3] ~= 'failed' and (ARGV[2] == '' or ARGV[2] == h[1]) then
      out[#out + 1] = i
      out[#out + 1] = tonumber(id)
      out[#out + 1] = tonumber(h[1])
    end
  end
end
return out`;

type ClaimRedis = Redis & {
  miClaimChecksum(key: string, id: string, library: string, policy: string, resPrefix: string, sha: string): Promise<string[]>;
  miLookupChecksums(numKeys: number, ...keysAndArgs: string[]): Promise<number[]>;
};

export interface ChecksumMatch {
  id: number;
  library: number;
}

/** Lower-case hex SHA-256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export class ChecksumIndex {
  private readonly redis: ClaimRedis;
  private readonly p: string;

  constructor(redis: Redis, prefix: string) {
    if (!('miClaimChecksum' in redis)) redis.defineCommand('miClaimChecksum', { numberOfKeys: 1, lua: CLAIM });
    // Key count varies per call: passed first, as EVALSHA takes it.
    if (!('miLookupChecksums' in redis)) redis.defineCommand('miLookupChecksums', { lua: LOOKUP });
    this.redis = redis as ClaimRedis;
    this.p = keyPrefix(prefix);
  }

  key(sha: string): string {
    return `${this.p}:sum:${sha}`;
  }

  /**
   * Claim `sha` for resource `id` in `library`. Under `allow` it always succeeds (the
   * resource is only indexed). Otherwise returns the ids of the resources in the library
   * that already hold these bytes — empty means the claim is ours. Idempotent.
   */
  async claim(sha: string, id: number, library: number, policy: DedupePolicy): Promise<number[]> {
    const ids = await this.redis.miClaimChecksum(this.key(sha), String(id), String(library), policy, `${this.p}:res:`, sha);
    return ids.map(Number).sort((a, b) => a - b);
  }

  /** Index without claiming (a new or replaced file, before its job claims). */
  async add(sha: string, id: number): Promise<void> {
    await this.redis.sadd(this.key(sha), String(id));
  }

  async release(sha: string, id: number): Promise<void> {
    await this.redis.srem(this.key(sha), String(id));
  }

  /**
   * Which of these checksums exist, and as which resources (not failed, optionally in
   * one library). One Lua call per 2,000 checksums, so Redis is never blocked long.
   */
  async lookup(shas: readonly string[], library?: number): Promise<Map<string, ChecksumMatch[]>> {
    const out = new Map<string, ChecksumMatch[]>();
    const CHUNK = 2_000;
    for (let start = 0; start < shas.length; start += CHUNK) {
      const chunk = shas.slice(start, start + CHUNK);
      const flat = await this.redis.miLookupChecksums(
        chunk.length,
        ...chunk.map((s) => this.key(s)),
        `${this.p}:res:`,
        library === undefined ? '' : String(library),
        ...chunk,
      );
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const sha = chunk[flat[i]! - 1]!;
        const list = out.get(sha) ?? [];
        list.push({ id: flat[i + 1]!, library: flat[i + 2]! });
        out.set(sha, list);
      }
    }
    for (const list of out.values()) list.sort((a, b) => a.id - b.id);
    return out;
  }
}
