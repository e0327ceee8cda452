import { keyPrefix, type RedisConnection } from '../redis.js';

/**
 * Each library's completion-webhook URL, in one Redis hash (library id → URL) under the
 * `{prefix}` hash tag. Small: one entry per library that has a webhook.
 */
export class LibraryWebhooks {
  private readonly key: string;
  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.key = `${keyPrefix(prefix)}:lib:webhooks`;
  }

  async get(libraryId: number): Promise<string | undefined> {
    return (await this.redis.hget(this.key, String(libraryId))) ?? undefined;
  }

  async set(libraryId: number, url: string): Promise<void> {
    await this.redis.hset(this.key, String(libraryId), url);
  }

  async delete(libraryId: number): Promise<boolean> {
    return (await this.redis.hdel(this.key, String(libraryId))) > 0;
  }
}
