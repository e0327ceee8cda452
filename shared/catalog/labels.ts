import { keyPrefix, type RedisConnection } from '../redis.js';

/**
 * Unique file labels per library — IBM Connections answers `409` when a file with the
 * label exists in the user's library, and its clients rely on that to avoid
 * overwriting. A Redis hash per library (label → resource id), so the check and the
 * claim are one atomic step even with many API replicas.
 *
 * Entries are not removed when a resource is deleted elsewhere (the native API knows
 * nothing of labels); instead a claim that meets a holder which is no longer live
 * replaces it, compare-and-set, so the index heals itself.
 */
const CLAIM = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
return tonumber(cur)`;

const RELEASE = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;

type ScriptRedis = RedisConnection & {
  miClaimLabel(key: string, label: string, id: string, stale: string): Promise<number>;
  miReleaseLabel(key: string, label: string, id: string): Promise<number>;
};

/** Whether the resource holding a label still exists (in that library). */
export type IsLive = (resourceId: number) => Promise<boolean>;

export class LabelIndex {
  private readonly redis: ScriptRedis;
  private readonly p: string;

  constructor(redis: RedisConnection, prefix: string) {
    if (!('miClaimLabel' in redis)) redis.defineCommand('miClaimLabel', { numberOfKeys: 1, lua: CLAIM });
    if (!('miReleaseLabel' in redis)) redis.defineCommand('miReleaseLabel', { numberOfKeys: 1, lua: RELEASE });
    this.redis = redis as ScriptRedis;
    this.p = keyPrefix(prefix);
  }

  private key(libraryId: number): string {
    return `${this.p}:labels:${libraryId}`;
  }

  /** Labels differ by more than case: Connections treats "Photo.JPG" and "photo.jpg" as one name. */
  static normalise(label: string): string {
    return label.normalize('NFC').toLowerCase();
  }

  /** The live resource holding `label`, if any (a stale holder counts as none). */
  async holder(libraryId: number, label: string, isLive: IsLive): Promise<number | undefined> {
    const cur = await this.redis.hget(this.key(libraryId), LabelIndex.normalise(label));
    if (cur === null) return undefined;
    return (await isLive(Number(cur))) ? Number(cur) : undefined;
  }

  /** Claims `label` for `resourceId`. @returns undefined when claimed, else the live holder's id */
  async claim(libraryId: number, label: string, resourceId: number, isLive: IsLive): Promise<number | undefined> {
    const norm = LabelIndex.normalise(label);
    let stale = '';
    // A few rounds at most: each one either claims or finds a live holder, unless
    // another request replaced the same stale holder in between.
    for (let round = 0; round < 5; round++) {
      const held = await this.redis.miClaimLabel(this.key(libraryId), norm, String(resourceId), stale);
      if (held === 0 || held === resourceId) return undefined;
      if (await isLive(held)) return held;
      stale = String(held);
    }
    return Number(await this.redis.hget(this.key(libraryId), norm));
  }

  /** Gives a label up, but only if `resourceId` still holds it. */
  async release(libraryId: number, label: string, resourceId: number): Promise<void> {
    await this.redis.miReleaseLabel(this.key(libraryId), LabelIndex.normalise(label), String(resourceId));
  }
}
