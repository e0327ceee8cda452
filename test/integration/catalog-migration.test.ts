import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Catalog } from '../../shared/catalog/catalog.js';
import { legacyCatalogKeys } from '../../shared/catalog/keys.js';
import { createRedis, type RedisConnection } from '../../shared/redis.js';
import { scanKeys } from '../harness/redis-keys.js';

/** A catalog written by a version before issue 13 (records as hashes under `{prefix}`) is moved on start. */
describe('catalog migration from the pre-cluster layout', () => {
  let redis: RedisConnection;
  const prefix = `mig${randomBytes(4).toString('hex')}`;
  beforeAll(() => {
    redis = createRedis(inject('redisUrl'), 'queue');
  });
  afterAll(() => redis.disconnect());

  it('moves every record with its indexes and checksum, removes the old keys, and a second run does nothing', async () => {
    const old = legacyCatalogKeys(prefix);
    const sha = 'ab'.repeat(32);
    for (const id of [1, 2, 300]) {
      await redis.hset(old.resource(id), {
        id: String(id),
        library: '1',
        fileName: `f${id}.jpg`,
        extension: 'jpg',
        mimeType: 'image/jpeg',
        size: '123',
        type: 'image',
        source: 'upload',
        checksum: id === 1 ? sha : `${id}`.padStart(64, '0'),
        width: '80',
        height: '\u0000',
        orientation: '\u0000',
        title: 'A title',
        tags: '["x"]',
        visibility: 'private',
        created: '2025-01-02T03:04:05.678Z',
        modified: '2025-01-02T03:04:05.678Z',
        status: 'ready',
        error: '\u0000',
        errorCode: '\u0000',
        fields: '{"make":"Acme"}',
        warnings: '[]',
        renditions: `[{"name":"thumbnail","width":200,"height":150,"format":"webp","size":999,"url":"/image/200x200/${id}.webp"}]`,
        fileVersion: '1',
        mappingsVersion: '1',
        noExif: '0',
        storageKey: `resources/x/${id}`,
        jobId: `ingest-${id}-1`,
        declaredType: '\u0000',
      });
      await redis.zadd(old.allResources, id, String(id));
      await redis.zadd(old.libraryResources(1), id, String(id));
      await redis.sadd(old.checksum(id === 1 ? sha : `${id}`.padStart(64, '0')), String(id));
    }
    const catalog = new Catalog(redis, prefix);
    expect(await catalog.migrate()).toBe(3);
    expect(await catalog.migrate()).toBe(0);
    const r1 = await catalog.requireResource(1);
    expect(r1).toMatchObject({
      id: 1,
      library: 1,
      fileName: 'f1.jpg',
      width: 80,
      height: null,
      title: 'A title',
      tags: ['x'],
      fields: { make: 'Acme' },
      storageKey: 'resources/x/1',
      status: 'ready',
    });
    expect(r1.renditions).toEqual([
      { name: 'thumbnail', width: 200, height: 150, format: 'webp', size: 999, url: '/image/200x200/1.webp' },
    ]);
    expect(await catalog.countResources()).toBe(3);
    expect(await catalog.countResources(1)).toBe(3);
    expect((await catalog.listResources({ library: 1, limit: 10 })).items.map((r) => r.id)).toEqual([1, 2, 300]);
    expect((await catalog.checksums.lookup([sha])).get(sha)).toEqual([{ id: 1, library: 1 }]);
    expect(await scanKeys(redis, `{${prefix}}:res:*`)).toEqual([]);
    expect(await scanKeys(redis, `{${prefix}}:sum:*`)).toEqual([]);
  });
});
