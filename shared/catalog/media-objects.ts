import { keyPrefix, type RedisConnection } from '../redis.js';

/**
 * Which resources are saved as Flotiq `_media` content objects: an upload with
 * `save=1`, or the old two-step flow's `POST /api/v1/content/_media`. Until then a
 * Flotiq upload is a file on disk with no content object, as in Flotiq. A sorted set
 * by resource id, so listing pages by rank without loading the set.
 *
 * Members whose resource was deleted elsewhere are skipped and pruned when listed.
 */
export class MediaObjectStore {
  private readonly key: string;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.key = `${keyPrefix(prefix)}:flotiq:media`;
  }

  async add(resourceId: number, savedAt = Date.now()): Promise<void> {
    // The save time rides along in a hash, so a content object keeps its createdAt.
    await this.redis
      .multi()
      .zadd(this.key, 'NX', resourceId, String(resourceId))
      .hsetnx(`${this.key}:at`, String(resourceId), String(savedAt))
      .exec();
  }

  async has(resourceId: number): Promise<boolean> {
    return (await this.redis.zscore(this.key, String(resourceId))) !== null;
  }

  /** The id of the photo at its source (Unsplash), for resources imported from one. */
  async setExternalId(resourceId: number, externalId: string): Promise<void> {
    await this.redis.hset(`${this.key}:external`, String(resourceId), externalId);
  }

  /** When each was saved as a content object (undefined: not saved), and its external id ('' when none). */
  async details(resourceIds: number[]): Promise<{ savedAt: number | undefined; externalId: string }[]> {
    if (resourceIds.length === 0) return [];
    const ids = resourceIds.map(String);
    const res =
      (await this.redis
        .pipeline()
        .hmget(`${this.key}:at`, ...ids)
        .hmget(`${this.key}:external`, ...ids)
        .exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    const at = res[0]![1] as (string | null)[];
    const ext = res[1]![1] as (string | null)[];
    return ids.map((_, i) => ({ savedAt: at[i] == null ? undefined : Number(at[i]), externalId: ext[i] ?? '' }));
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.key);
  }

  /** Resource ids by rank, oldest first. */
  async page(offset: number, limit: number): Promise<number[]> {
    return (await this.redis.zrange(this.key, offset, offset + limit - 1)).map(Number);
  }

  async remove(resourceIds: number[]): Promise<void> {
    if (resourceIds.length === 0) return;
    await this.redis
      .multi()
      .zrem(this.key, ...resourceIds.map(String))
      .hdel(`${this.key}:at`, ...resourceIds.map(String))
      .hdel(`${this.key}:external`, ...resourceIds.map(String))
      .exec();
  }
}
