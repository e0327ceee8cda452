import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLibrary } from '../harness/libraries.js';
import { dropCatalogKeys } from '../harness/redis-keys.js';
import { REDIS_MODES, s3Missing, startService, type TestService } from '../harness/service.js';
import { runInProcess } from './harness.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

// The full round on fs with both Redis layouts; S3 (below) checks what differs there:
// the listing of record copies in the bucket.
describe.each(REDIS_MODES)('media-ingest reindex (fs store, %s redis)', (redis) => {
  let svc: TestService;
  let tmp: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    svc = await startService('fs', { redis, env: { WORKER_CONCURRENCY: '4' } });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-cli-reindex-'));
    env = { MEDIA_INGEST_URL: svc.url, MEDIA_INGEST_KEY: svc.key };
  });
  afterAll(async () => {
    await svc?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  async function listAll(lib: string) {
    const all: Record<string, unknown>[] = [];
    let url: string | null = `/v1/resources?library=${lib}&limit=1000`;
    while (url) {
      const res = await svc.fetch(url);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { resources: Record<string, unknown>[]; links: { next: string | null } };
      all.push(...page.resources);
      url = page.links.next;
    }
    return all;
  }

  /** Drops the catalog: every key under the test's prefix except BullMQ's queues (the workers keep running on them). */
  const dropCatalog = () => dropCatalogKeys(svc.core.redis, svc.config.redis.prefix);

  it('restores every record, library, checksum and id sequence after the catalog is dropped; a second run changes nothing', async () => {
    const name = `reidx-${randomBytes(3).toString('hex')}`;
    const created = await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, dedupe: 'reject' }),
    });
    expect(created.status).toBe(201);
    const dir = path.join(tmp, 'files');
    await fs.mkdir(dir);
    const shas: string[] = [];
    for (let i = 0; i < 60; i++) {
      const body = `reindex me ${i} ${randomBytes(6).toString('hex')}`;
      shas.push(sha256(body));
      await fs.writeFile(path.join(dir, `r${i}.txt`), body);
    }
    // A JPEG that is not one: its resource fails, and must come back failed.
    await fs.writeFile(path.join(dir, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]));
    const up = await runInProcess(['upload', dir, '-l', name, '--json', '--wait', '--title', 'Reindexed', '--tag', 'a', '--tag', 'b'], env);
    expect(up.lines.find((l) => l.event === 'summary')).toMatchObject({ uploaded: 60, failed: 1 });
    await runInProcess(['upload', path.join(tmp, 'files', 'r0.txt'), '-l', 'default', '--json', '--wait'], env);

    const before = await listAll(name);
    expect(before).toHaveLength(61);
    expect(before.filter((r) => r.status === 'failed')).toHaveLength(1);
    const libBefore = await (await svc.fetch(`/v1/libraries/${name}`)).json();
    const defaultBefore = await listAll('default');

    expect(await dropCatalog()).toBeGreaterThan(61);
    expect((await svc.fetch(`/v1/libraries/${name}`)).status).toBe(404);
    expect((await svc.fetch(`/v1/resources/${before[0]!.id}`)).status).toBe(404);

    const run = await runInProcess(['reindex', '--shards', '512', '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines.filter((l) => l.event === 'page')).toHaveLength(8);
    expect(run.lines.find((l) => l.event === 'summary')).toMatchObject({
      restored: 62,
      unchanged: 0,
      unreadable: 0,
      librariesRestored: 2,
      placeholders: [],
    });

    expect(await listAll(name)).toEqual(before);
    expect(await listAll('default')).toEqual(defaultBefore);
    expect(await (await svc.fetch(`/v1/libraries/${name}`)).json()).toEqual(libBefore);
    // The checksum index: the pre-flight finds every ready file again (the failed one is not a match).
    const pre = (await (
      await svc.fetch('/v1/checksums', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ checksums: shas, library: name }),
      })
    ).json()) as { missing: string[] };
    expect(pre.missing).toEqual([]);
    // …and de-duplication works on it: the same bytes again are refused, not stored twice.
    const again = await runInProcess(['upload', path.join(dir, 'r5.txt'), '-l', name, '--json'], env);
    expect(again.lines[0]).toMatchObject({ status: 'skipped', duplicateOf: [before.find((r) => r.checksum === shas[5])!.id] });
    // The id sequence: a new upload gets an id above every restored one.
    await fs.writeFile(path.join(tmp, 'new.txt'), `new ${randomBytes(4).toString('hex')}`);
    const fresh = await runInProcess(['upload', path.join(tmp, 'new.txt'), '-l', name, '--json'], env);
    expect(fresh.lines[0]).toMatchObject({ status: 'uploaded' });
    expect(Number(fresh.lines[0]!.id)).toBeGreaterThan(
      Math.max(...before.map((r) => Number(r.id)), ...defaultBefore.map((r) => Number(r.id))),
    );

    const second = await runInProcess(['reindex', '--json'], env);
    expect(second.code).toBe(0);
    expect(second.lines.find((l) => l.event === 'summary')).toMatchObject({ restored: 0, unchanged: 63, librariesRestored: 0 });
  }, 120_000);
});

// On S3 a reindex lists only the shards that exist (one delimited listing names them),
// not 4,096 — a request each, minutes on radosgw before.
describe.skipIf(s3Missing())('media-ingest reindex (s3 store)', () => {
  let svc: TestService;
  let tmp: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    svc = await startService('s3', { env: { WORKER_CONCURRENCY: '2' } });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-cli-reindex-s3-'));
    env = { MEDIA_INGEST_URL: svc.url, MEDIA_INGEST_KEY: svc.key };
  });
  afterAll(async () => {
    await svc?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('restores the records and the library from the copies in the bucket; a second run changes nothing', async () => {
    const name = `reidx-s3-${randomBytes(3).toString('hex')}`;
    await createLibrary(svc, { name });
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(tmp, `s${i}.txt`), `reindex on s3 ${i} ${randomBytes(6).toString('hex')}`);
    const up = await runInProcess(['upload', tmp, '-l', name, '--json', '--wait'], env);
    expect(up.lines.find((l) => l.event === 'summary')).toMatchObject({ uploaded: 5, failed: 0 });
    const ids = up.lines.filter((l) => l.status === 'uploaded').map((l) => Number(l.id));
    const before = await Promise.all(ids.map(async (id) => (await svc.fetch(`/v1/resources/${id}`)).json()));

    await dropCatalogKeys(svc.core.redis, svc.config.redis.prefix);
    expect((await svc.fetch(`/v1/resources/${ids[0]}`)).status).toBe(404);

    const run = await runInProcess(['reindex', '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines.find((l) => l.event === 'summary')).toMatchObject({ restored: 5, unchanged: 0, unreadable: 0, placeholders: [] });
    expect(await Promise.all(ids.map(async (id) => (await svc.fetch(`/v1/resources/${id}`)).json()))).toEqual(before);
    expect((await svc.fetch(`/v1/libraries/${name}`)).status).toBe(200);

    const second = await runInProcess(['reindex', '--json'], env);
    expect(second.lines.find((l) => l.event === 'summary')).toMatchObject({ restored: 0, unchanged: 5, librariesRestored: 0 });
  }, 120_000);
});
