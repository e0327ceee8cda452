import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  form,
  hasSharedFixtures,
  SHARED_FIXTURES,
  onStores,
  startService,
  type RedisMode,
  type StorageKind,
  type TestService,
} from '../harness/service.js';
import { makeJpeg, makePng } from '../harness/images.js';
import { resourcePrefix } from '../../shared/storage/layout.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const fixtures = await hasSharedFixtures();

// The cluster variant runs on the fs store only: the Redis layer is what differs.
describe.each(
  onStores<[StorageKind, RedisMode]>([
    ['fs', 'single'],
    ['s3', 'single'],
    ['fs', 'cluster'],
  ]),
)('upload → storage → ingest → status (%s store, %s redis)', (storage, redis) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage, { redis });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('answers 204 on completion with ?wait, and the resource is ready with size, sha256 and dimensions', async () => {
    const jpeg = await makeJpeg(320, 200);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'a.jpg', data: jpeg, type: 'image/jpeg' } }),
    });
    expect(res.status).toBe(204);
    const id = res.headers.get('x-resource-id');
    expect(id).toMatch(/^\d+$/);
    const rec = await (await svc.fetch(`/v1/resources/${id}`)).json();
    expect(rec).toMatchObject({
      id: Number(id),
      status: 'ready',
      size: jpeg.length,
      checksum: sha256(jpeg),
      width: 320,
      height: 200,
      type: 'image',
      mimeType: 'image/jpeg',
      extension: 'jpg',
      fileName: 'a.jpg',
      fileVersion: 1,
    });
    expect(rec.storageKey).toBeUndefined();
  });

  it.skipIf(!fixtures)('ingests a real camera photo from ../shared/fixtures with the manifest dimensions', async () => {
    const file = path.join(SHARED_FIXTURES, 'camera/Canon EOS 7D.jpg');
    const bytes = await fs.readFile(file);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'Canon EOS 7D.jpg', data: bytes } }),
    });
    expect(res.status).toBe(204);
    const rec = await (await svc.fetch(`/v1/resources/${res.headers.get('x-resource-id')}`)).json();
    expect(rec).toMatchObject({
      status: 'ready',
      width: 600,
      height: 900,
      size: 347687,
      checksum: '2d7853213bcce6b000867c5a2baf610e4f373154e038f914ef683f24462f19ac',
    });
  });

  it('records displayed dimensions: EXIF orientation 6 swaps width and height', async () => {
    const jpeg = await makeJpeg(300, 100, 6);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ f: { name: 'rot.jpg', data: jpeg } }),
    });
    expect(res.status).toBe(204);
    const rec = await (await svc.fetch(`/v1/resources/${res.headers.get('x-resource-id')}`)).json();
    expect(rec).toMatchObject({ width: 100, height: 300, orientation: 6 });
  });

  it.each(['0', '2'])(
    'with UPLOAD_HASH_THREADS=%s (on the event loop / off it), parts of every size get the same sizes and checksums',
    async (threads) => {
      const threaded = await startService(storage, { redis, env: { UPLOAD_HASH_THREADS: threads }, worker: false });
      try {
        // Sizes around the 256 KiB block: inline (small), exactly a block, blocks plus a tail.
        const files = [1_000, 256 * 1024, 3 * 1024 * 1024 + 17, 5 * 1024 * 1024 + 1].map((n) => randomBytes(n));
        const parts = Object.fromEntries(files.map((data, i) => [`f${i}`, { name: `f${i}.bin`, data }]));
        const res = await threaded.fetch('/v1/libraries/default/files', { method: 'POST', body: form(parts) });
        expect(res.status).toBe(202);
        const { resources } = (await res.json()) as { resources: { size: number; checksum: string }[] };
        expect(resources.map((r) => [r.size, r.checksum])).toEqual(files.map((f) => [f.length, sha256(f)]));
      } finally {
        await threaded.close();
      }
    },
  );

  it('accepts several file parts in one request with fields, answers 202 with Location and every resource', async () => {
    const png = await makePng(64, 48);
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({
        title: 'Holiday',
        tags: ['beach', 'sun'],
        visibility: 'public',
        created: '2024-05-01T10:00:00+02:00',
        one: { name: 'one.png', data: png },
        two: { name: 'two.txt', data: 'hello world\n', type: 'text/plain' },
      }),
    });
    expect(res.status).toBe(202);
    const ids = res.headers.get('x-resource-id')!.split(',').map(Number);
    expect(ids).toHaveLength(2);
    const body = await res.json();
    expect(body.resources.map((r: { id: number }) => r.id)).toEqual(ids);
    expect(body.resources[0]).toMatchObject({ status: 'processing', jobId: `ingest-${ids[0]}-1`, fileName: 'one.png' });
    expect(res.headers.get('location')).toBe(`/v1/jobs/${body.resources[0].jobId}`);

    const wait = await svc.fetch(`/v1/jobs/${body.resources[1].jobId}/wait?timeout=30`);
    expect(wait.status).toBe(204);
    const job = await (await svc.fetch(`/v1/jobs/${body.resources[1].jobId}`)).json();
    expect(job).toMatchObject({ state: 'completed', resource: { id: ids[1], status: 'ready' } });

    await svc.fetch(`/v1/jobs/${body.resources[0].jobId}/wait?timeout=30`);
    const [a, b] = await Promise.all(ids.map(async (id) => (await svc.fetch(`/v1/resources/${id}`)).json()));
    for (const r of [a, b]) {
      expect(r).toMatchObject({ title: 'Holiday', tags: ['beach', 'sun'], visibility: 'public', created: '2024-05-01T08:00:00.000Z' });
    }
    expect(a).toMatchObject({ type: 'image', width: 64, height: 48, mimeType: 'image/png' });
    expect(b).toMatchObject({ type: 'file', width: null, height: null, mimeType: 'text/plain', status: 'ready' });
  });

  it('trusts the bytes, not the name: a text file named x.jpg is stored as a text file', async () => {
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'x.jpg', data: 'this is not a JPEG\n', type: 'image/jpeg' } }),
    });
    expect(res.status).toBe(204);
    const rec = await (await svc.fetch(`/v1/resources/${res.headers.get('x-resource-id')}`)).json();
    expect(rec).toMatchObject({ type: 'file', mimeType: 'text/plain', extension: 'txt', fileName: 'x.jpg', status: 'ready' });
  });

  it('fails the job with the reason when an image cannot be read, and ?wait answers that failure', async () => {
    // JPEG magic, then garbage: sniffed as an image, unreadable by the worker.
    const bogus = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'broken.jpg', data: bogus } }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = await res.json();
    expect(problem.detail).toMatch(/image header could not be read|no usable dimensions/);
    const id = res.headers.get('x-resource-id');
    const rec = await (await svc.fetch(`/v1/resources/${id}`)).json();
    expect(rec).toMatchObject({ status: 'failed', errorCode: 'unreadable_file' });
    expect(rec.error).toBe(problem.detail);
    const job = await (await svc.fetch(`/v1/jobs/${rec.jobId}`)).json();
    expect(job).toMatchObject({ state: 'failed', error: rec.error });
  });

  it('answers 202 with the current state when ?wait runs out first', async () => {
    const slow = await startService(storage, { redis, worker: false });
    try {
      const res = await slow.fetch('/v1/libraries/default/files?wait=1', {
        method: 'POST',
        body: form({ file: { name: 'a.txt', data: 'abc' } }),
      });
      expect(res.status).toBe(202);
      expect((await res.json()).resources[0].status).toBe('processing');
      const jobId = `ingest-${res.headers.get('x-resource-id')}-1`;
      const poll = await (await slow.fetch(`/v1/jobs/${jobId}`)).json();
      expect(poll.state).toBe('waiting');
      const waited = await slow.fetch(`/v1/jobs/${jobId}/wait?timeout=1`);
      expect(waited.status).toBe(202);
      expect((await waited.json()).state).toBe('waiting');
    } finally {
      await slow.close();
    }
  });

  it('lists with a cursor, per library, in id order', async () => {
    const lib = await (
      await svc.fetch('/v1/libraries', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `list-${storage}` }),
      })
    ).json();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await svc.fetch(`/v1/libraries/${lib.name}/files`, {
        method: 'POST',
        body: form({ file: { name: `f${i}.txt`, data: `file ${i}` } }),
      });
      ids.push(Number(r.headers.get('x-resource-id')));
    }
    const seen: number[] = [];
    let next: string | null = `/v1/resources?library=${lib.id}&limit=2`;
    let pages = 0;
    while (next) {
      const page = await (await svc.fetch(next)).json();
      seen.push(...page.resources.map((r: { id: number }) => r.id));
      next = page.links.next;
      pages++;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
    const libInfo = await (await svc.fetch(`/v1/libraries/${lib.id}`)).json();
    expect(libInfo).toMatchObject({ name: `list-${storage}`, resourceCount: 5 });
  });

  it('deletes a resource with every stored object of it', async () => {
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'd.png', data: await makePng(10, 10) } }),
    });
    const id = Number(res.headers.get('x-resource-id'));
    const prefix = resourcePrefix(id);
    const before = (await svc.allObjects()).filter((k) => k.startsWith(prefix));
    expect(before.length).toBeGreaterThanOrEqual(2); // original + record.json
    expect((await svc.fetch(`/v1/resources/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await svc.allObjects()).filter((k) => k.startsWith(prefix))).toEqual([]);
    expect((await svc.fetch(`/v1/resources/${id}`)).status).toBe(404);
    expect((await svc.fetch(`/v1/resources/${id}`, { method: 'DELETE' })).status).toBe(404);
  });
});
