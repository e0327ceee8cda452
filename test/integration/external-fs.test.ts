import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../../shared/model.js';
import { makeJpeg } from '../harness/images.js';
import { dropCatalogKeys } from '../harness/redis-keys.js';
import { startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
type BatchView = {
  id: number;
  kind?: string;
  state: string;
  error?: string;
  scanned: number;
  total: number;
  done: number;
  failed: number;
  missing: number;
  deleted: number;
  queued: number;
};

/**
 * External library on a folder (issue 20): sources refused outside EXTERNAL_ROOTS, a scan
 * that creates, re-processes, marks missing and deletes, the originals never touched, a
 * vanished folder failing the scan without marking anything missing.
 */
describe('external library: fs source', () => {
  let svc: TestService;
  let root: string;
  let outside: string;
  let folder: string;
  let sock: net.Server;
  let libId: number;

  const post = (p: string, body?: unknown) =>
    svc.fetch(p, {
      method: 'POST',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
  const scanToEnd = async (): Promise<BatchView> => {
    const res = await post(`/v1/libraries/${libId}/scan`);
    expect(res.status).toBe(202);
    const b = (await res.json()) as BatchView;
    expect(res.headers.get('location')).toBe(`/v1/batches/${b.id}`);
    return until(`scan ${b.id} to end`, async () => {
      const v = (await (await svc.fetch(`/v1/batches/${b.id}`)).json()) as BatchView;
      return v.state !== 'running' ? v : undefined;
    });
  };
  const resources = async () => (await svc.core.catalog.listResources({ library: libId, limit: 100 })).items;
  const byName = async () => new Map((await resources()).map((r) => [r.fileName, r] as [string, ResourceRecord]));

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-ext-root-'));
    outside = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-ext-out-'));
    folder = path.join(root, 'photos');
    await fs.mkdir(path.join(folder, 'sub'), { recursive: true });
    await fs.writeFile(path.join(folder, 'a.jpg'), await makeJpeg(64, 48));
    await fs.writeFile(path.join(folder, 'sub', 'b.txt'), 'same bytes');
    await fs.writeFile(path.join(folder, 'dup.txt'), 'same bytes');
    await fs.writeFile(path.join(folder, 'c.txt'), 'to be deleted');
    // A socket cannot be opened for reading, even by root: the "unreadable file" row.
    sock = net.createServer().listen(path.join(folder, 'sock'));
    await fs.symlink(outside, path.join(root, 'link-out'));
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(folder, 'link.txt'));
    await fs.writeFile(path.join(outside, 'secret.txt'), 'not for the service');
    svc = await startService('fs', {
      env: { EXTERNAL_ROOTS: root, EXTERNAL_POLL_SECONDS: '0', EXTERNAL_MISSING_GRACE: '1s', WORKER_CONCURRENCY: '4' },
    });
  });
  afterAll(async () => {
    sock?.close();
    await svc?.close();
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });

  it('refuses a source outside EXTERNAL_ROOTS (also through .. and symlinks) with a one-line 400', async () => {
    const bad: [unknown, RegExp][] = [
      [{ type: 'fs', path: outside }, /not under EXTERNAL_ROOTS/],
      [{ type: 'fs', path: `${folder}/../../${path.basename(outside)}` }, /not under EXTERNAL_ROOTS/],
      [{ type: 'fs', path: path.join(root, 'link-out') }, /not under EXTERNAL_ROOTS/],
      [{ type: 'fs', path: 'photos' }, /absolute folder path/],
      [{ type: 'fs', path: path.join(root, 'nope') }, /does not exist/],
      [{ type: 'fs', path: path.join(folder, 'c.txt') }, /not a folder/],
      [{ type: 'fs', path: folder, extra: 1 }, /Unknown member source.extra/],
      [{ type: 's3', bucket: 'somewhere', prefix: '' }, /STORAGE_DRIVER=fs/],
      [{ type: 'ftp' }, /"fs" or "s3"/],
      ['/mnt', /Expected source to be an object/],
    ];
    for (const [source, reason] of bad) {
      const res = await post('/v1/libraries', { name: `bad${Math.random().toString(36).slice(2, 8)}`, source });
      const body = (await res.json()) as { detail: string };
      expect(res.status, JSON.stringify(source)).toBe(400);
      expect(body.detail).toMatch(reason);
      expect(body.detail).not.toContain('\n');
    }
  });

  it('scans: one resource per file, processed in place, duplicates and an unreadable file failed with their reasons', async () => {
    const res = await post('/v1/libraries', { name: 'nas', dedupe: 'reject', source: { type: 'fs', path: `${folder}/` } });
    expect(res.status).toBe(201);
    const lib = (await res.json()) as { id: number; source: unknown; links: { scan: string } };
    libId = lib.id;
    expect(lib.source).toEqual({ type: 'fs', path: folder });
    expect(lib.links.scan).toBe(`/v1/libraries/${libId}/scan`);

    const batch = await scanToEnd();
    // a.jpg, c.txt, dup.txt, sock, sub/b.txt; the symlink is not followed.
    expect(batch).toMatchObject({ kind: 'scan', state: 'completed', scanned: 5, total: 5, done: 3, failed: 2, missing: 0, queued: 0 });
    const recs = await byName();
    // Of the two files with the same bytes, one stays (reject: the other is removed, its job failed as a duplicate).
    expect([...recs.keys()].filter((n) => n !== 'b.txt' && n !== 'dup.txt').sort()).toEqual(['a.jpg', 'c.txt', 'sock']);
    expect(recs.has('b.txt') !== recs.has('dup.txt')).toBe(true);
    const jpg = recs.get('a.jpg')!;
    expect(jpg).toMatchObject({
      status: 'ready',
      source: 'external',
      type: 'image',
      width: 64,
      height: 48,
      fileVersion: 1,
      checksum: sha256(await fs.readFile(path.join(folder, 'a.jpg'))),
    });
    expect(jpg.renditions.length).toBeGreaterThan(0);
    expect(recs.get('sock')).toMatchObject({
      status: 'failed',
      errorCode: 'unreadable_file',
      error: expect.stringMatching(/not a regular file \(a socket\)/),
    });
    // The original stays where it is; the service stores renditions and record copies only.
    const stored = await svc.allObjects();
    expect(stored.filter((k) => /\/original/.test(k))).toEqual([]);
    expect(stored.some((k) => k.startsWith(`resources/`) || /record\.json$/.test(k))).toBe(true);
    expect(await fs.readFile(path.join(folder, 'sub', 'b.txt'), 'utf8')).toBe('same bytes');
    // The original is served from the source.
    const orig = await svc.fetch(`/v1/resources/${jpg.id}/file`);
    if (orig.status === 200) expect(sha256(new Uint8Array(await orig.arrayBuffer()))).toBe(jpg.checksum);
  });

  it('rescans: unchanged files cost nothing, a changed one is processed again (fileVersion + 1), a gone one is missing, then deleted after the grace', async () => {
    const before = await byName();
    const again = await scanToEnd();
    expect(again).toMatchObject({ state: 'completed', scanned: 5, total: 0, done: 0, failed: 0, missing: 0 });

    await fs.writeFile(path.join(folder, 'a.jpg'), await makeJpeg(80, 60));
    await fs.rm(path.join(folder, 'c.txt'));
    const third = await scanToEnd();
    expect(third).toMatchObject({ state: 'completed', scanned: 4, done: 1, failed: 0, missing: 1 });
    const after = await byName();
    expect(after.get('a.jpg')).toMatchObject({ id: before.get('a.jpg')!.id, status: 'ready', fileVersion: 2, width: 80, height: 60 });
    expect(after.get('c.txt')).toMatchObject({ id: before.get('c.txt')!.id, status: 'missing' });
    expect(after.size).toBe(before.size);

    await new Promise((r) => setTimeout(r, 1100));
    const fourth = await scanToEnd();
    expect(fourth).toMatchObject({ state: 'completed', missing: 0, deleted: 1 });
    expect((await byName()).has('c.txt')).toBe(false);
  });

  it('after the catalog is lost and rebuilt by reindex, a scan keeps one resource per file, under the same ids', async () => {
    const ids = async () => new Map([...(await byName())].map(([name, r]) => [name, r.id]));
    const before = await ids();
    // Records, indexes, checksums, sequences and the entry map go; the queues stay, with
    // the retained jobs of a deleted duplicate and a failed file (reindex must not hand
    // their ids out again).
    await dropCatalogKeys(svc.core.redis, svc.config.redis.prefix);
    for (let from: number | null = 0; from !== null;) {
      const res = await post('/v1/admin/reindex', { fromShard: from, shards: 512 });
      expect(res.status, await res.clone().text()).toBe(200);
      from = ((await res.json()) as { nextShard: number | null }).nextShard;
    }
    const batch = await scanToEnd();
    expect(batch).toMatchObject({ state: 'completed', scanned: 4, missing: 0 });
    expect(await ids()).toEqual(before);
  });

  it('a vanished source fails the scan with the reason and marks nothing missing', async () => {
    const moved = `${folder}-away`;
    await fs.rename(folder, moved);
    try {
      const failed = await scanToEnd();
      expect(failed).toMatchObject({
        state: 'failed',
        missing: 0,
        error: expect.stringMatching(/could not be listed \(ENOENT\); nothing was marked missing/),
      });
      expect((await resources()).filter((r) => r.status === 'missing')).toEqual([]);
    } finally {
      await fs.rename(moved, folder);
    }
  });
});

describe('external library: fs polling, and a scan paused and resumed', () => {
  let svc: TestService;
  let root: string;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-ext-poll-'));
    await fs.mkdir(path.join(root, 'drop'));
    await fs.mkdir(path.join(root, 'many'));
    await Promise.all(Array.from({ length: 30 }, (_, i) => fs.writeFile(path.join(root, 'many', `m${i}.txt`), `many ${i}`)));
    svc = await startService('fs', { env: { EXTERNAL_ROOTS: root, EXTERNAL_POLL_SECONDS: '1', REPROCESS_CHUNK_SIZE: '5' } });
  });
  afterAll(async () => {
    await svc?.close();
    await fs.rm(root, { recursive: true, force: true });
  });
  const create = async (name: string, folder: string) =>
    (await (
      await svc.fetch('/v1/libraries', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, source: { type: 'fs', path: path.join(root, folder) } }),
      })
    ).json()) as { id: number };
  const names = async (lib: number) =>
    (await svc.core.catalog.listResources({ library: lib, limit: 100 })).items.map((r) => `${r.fileName}:${r.status}`).sort();

  it('a folder is polled every EXTERNAL_POLL_SECONDS: new files arrive without a scan request', async () => {
    const lib = await create('drop', 'drop');
    await fs.writeFile(path.join(root, 'drop', 'one.txt'), 'one');
    await until('the poll to take one.txt', async () => (await names(lib.id)).includes('one.txt:ready'));
    await fs.writeFile(path.join(root, 'drop', 'two.txt'), 'two');
    await until('the poll to take two.txt', async () => (await names(lib.id)).join() === 'one.txt:ready,two.txt:ready');
  });

  it('pause and resume (the batch routes of a bulk revert) take a scan to its end with exact counts', { timeout: 90_000 }, async () => {
    const lib = await create('many', 'many');
    // The poller may have started the scan already: the scan route answers that one.
    const b = (await (await svc.fetch(`/v1/libraries/${lib.id}/scan`, { method: 'POST' })).json()) as { id: number };
    const paused = await svc.fetch(`/v1/batches/${b.id}/pause`, { method: 'POST' });
    if (paused.status === 200) {
      expect(((await paused.json()) as { state: string }).state).toBe('paused');
      expect(((await (await svc.fetch(`/v1/batches/${b.id}/resume`, { method: 'POST' })).json()) as { state: string }).state).toBe(
        'running',
      );
    } else expect(paused.status).toBe(409); // finished before the pause arrived
    const end = await until(
      'the scan to end',
      async () => {
        const v = (await (await svc.fetch(`/v1/batches/${b.id}`)).json()) as { state: string; scanned: number; done: number };
        return v.state === 'completed' ? v : undefined;
      },
      80_000,
    );
    expect(end).toMatchObject({ scanned: 30, done: 30 });
    expect(await svc.core.catalog.countResources(lib.id)).toBe(30);
  });
});
