// What crashes leave behind, made on purpose, then swept: bytes staged by an upload that
// never committed, a file version a replace cut short left, a fs temp file of a killed
// write, a record copy with no catalog record — and a record whose original vanished.
// The sweeper must remove exactly the orphans older than the grace period, keep young
// ones (an upload in flight) and everything a record accounts for, and the check must
// name the record whose bytes are gone.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestJobId } from '../../shared/jobs/ingest.js';
import { originalKey, recordKey, SHARD_COUNT, versionPrefix } from '../../shared/storage/layout.js';
import type { S3StorageConfig } from '../../shared/config.js';
import { OrphanSweeper, type SweepPage } from '../../shared/services/orphan-sweeper.js';
import { PendingDirectUploads } from '../../shared/services/pending-direct-uploads.js';
import { S3Presigner } from '../../shared/storage/s3-presigner.js';
import { form, startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';
import { audit, sleep } from './lib/audit.js';

const shardOf = (id: number) => id % SHARD_COUNT;

describe.each<StorageKind>(storageKinds())('orphan sweeper and missing-object check (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    // S3: incomplete multipart uploads older than 1 s are stale (ignored by fs).
    svc = await startService(storage, { env: { S3_MULTIPART_MAX_AGE_SECONDS: '1', RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  async function upload(name: string): Promise<number> {
    const res = await svc.fetch('/v1/libraries/default/files?wait=20', {
      method: 'POST',
      body: form({ file: { name, data: `${name} ${Math.random()}` } }),
    });
    expect(res.status).toBe(204);
    return Number(res.headers.get('x-resource-id'));
  }

  /** Sweeps the shards of `ids` through the admin endpoint. */
  async function sweep(ids: number[], body: Record<string, unknown>): Promise<SweepPage> {
    const total: SweepPage = { fromShard: 0, nextShard: null, scanned: 0, orphans: [], young: 0, unindexed: [], abandonedWrites: 0 };
    for (const shard of new Set(ids.map(shardOf))) {
      const res = await svc.fetch('/v1/admin/sweep', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fromShard: shard, shards: 1, ...body }),
      });
      expect(res.status).toBe(200);
      const p = (await res.json()) as SweepPage;
      total.scanned += p.scanned;
      total.orphans.push(...p.orphans);
      total.young += p.young;
      total.unindexed.push(...p.unindexed);
      total.abandonedWrites += p.abandonedWrites;
    }
    return total;
  }

  it('removes old orphans, keeps young ones and everything recorded, reports unindexed folders', async () => {
    const kept = await upload('kept.txt');
    const replaced = await upload('replaced.txt');
    const unindexed = await upload('unindexed.txt');
    const keptRec = (await svc.core.catalog.getResource(kept))!;
    // An upload that staged its bytes and died before recording them.
    const staged = await svc.core.catalog.allocateResourceId();
    await svc.core.store.put(originalKey(staged, 1, 'jpg'), Buffer.from('staged, never recorded'));
    // A replace cut short: a version the record does not point to.
    const strayVersion = `${versionPrefix(replaced, 9)}original.txt`;
    await svc.core.store.put(strayVersion, Buffer.from('stray version'));
    // A record lost from Redis (or a delete killed halfway): the copy is in storage, the record is not.
    await svc.core.catalog.deleteResource(unindexed);
    // A fs write killed before its rename.
    const tempFile =
      storage === 'fs'
        ? path.join(
            svc.config.storage.driver === 'fs' ? svc.config.storage.root : '',
            'resources',
            shardOf(staged).toString(16).padStart(3, '0'),
            String(staged),
            'v1',
            'x.incomplete-abc',
          )
        : '';
    if (tempFile) await fs.writeFile(tempFile, 'half');
    // Grace 3 s: the two sweeps below must end before the in-flight object ages past it,
    // which took more than 1 s with the machine under load.
    await sleep(3200);
    // An upload in flight right now: staged a moment ago, record not yet created.
    const inFlight = await svc.core.catalog.allocateResourceId();
    await svc.core.store.put(originalKey(inFlight, 1, 'png'), Buffer.from('in flight'));
    const ids = [kept, replaced, unindexed, staged, inFlight];

    const dry = await sweep(ids, { graceSeconds: 3, dryRun: true });
    expect(dry.orphans.sort()).toEqual([originalKey(staged, 1, 'jpg'), strayVersion].sort());
    expect(await svc.core.store.head(strayVersion)).toBeDefined();

    const page = await sweep(ids, { graceSeconds: 3 });
    expect(page.orphans.sort()).toEqual([originalKey(staged, 1, 'jpg'), strayVersion].sort());
    expect(page.young).toBe(1);
    expect(page.unindexed).toEqual([unindexed]);
    if (tempFile) {
      expect(page.abandonedWrites).toBe(1);
      await expect(fs.access(tempFile)).rejects.toThrow();
    }
    // The young object and every recorded one are still there.
    await expect(svc.core.store.head(originalKey(inFlight, 1, 'png'))).resolves.toBeDefined();
    await expect(svc.core.store.head(keptRec.storageKey)).resolves.toBeDefined();
    await expect(svc.core.store.head(recordKey(kept))).resolves.toBeDefined();
    await expect(svc.core.store.head(recordKey(unindexed))).resolves.toBeDefined();

    // Told that the unindexed folder is garbage (reindex not wanted), it goes too.
    const forced = await sweep([unindexed], { graceSeconds: 1, removeUnindexed: true });
    expect(forced.orphans).toContain(recordKey(unindexed));
    const a = await audit(svc.core.catalog, svc.core.store);
    expect(a.orphans).toEqual([originalKey(inFlight, 1, 'png')]);
  });

  it('reports records whose objects are missing, and records stuck in processing with no job', async () => {
    const ok = await upload('ok.txt');
    const lost = await upload('lost.txt');
    const lostRec = (await svc.core.catalog.getResource(lost))!;
    await svc.core.store.delete(lostRec.storageKey);
    // A record left in "processing" whose job was never added (Redis died under the commit and its undo).
    const stuckId = await svc.core.catalog.allocateResourceId();
    const stuckKey = originalKey(stuckId, 1, 'txt');
    await svc.core.store.put(stuckKey, Buffer.from('stuck'));
    await svc.core.catalog.createResources([
      { ...lostRec, id: stuckId, status: 'processing', jobId: ingestJobId(stuckId, 1), storageKey: stuckKey, checksum: '1'.repeat(64) },
    ]);
    const stuck: { id: number; jobId: string }[] = [];
    const missing: { id: number; key: string }[] = [];
    let checked = 0;
    for (let cursor: string | null = null; ;) {
      const res = await svc.fetch(`/v1/admin/check?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const p = (await res.json()) as {
        checked: number;
        missing: { id: number; key: string }[];
        stuck: { id: number; jobId: string }[];
        nextCursor: string | null;
      };
      missing.push(...p.missing);
      stuck.push(...p.stuck);
      checked += p.checked;
      if (!p.nextCursor) break;
      cursor = p.nextCursor;
    }
    expect(missing).toEqual([{ id: lost, key: lostRec.storageKey }]);
    expect(checked).toBeGreaterThanOrEqual(2);
    expect(missing.some((m) => m.id === ok)).toBe(false);
    expect(stuck).toEqual([{ id: stuckId, jobId: ingestJobId(stuckId, 1) }]);
  });

  it.skipIf(storage !== 's3')(
    'aborts multipart uploads nobody will complete: a dead upload past the age limit, a direct upload once its URLs expired',
    async () => {
      const { store, catalog } = svc.core;
      const presigner = new S3Presigner(svc.config.storage as S3StorageConfig);
      const uploads = async (id: number) => {
        const out: string[] = [];
        for await (const u of store.incompleteUploads!(versionPrefix(id, 1))) out.push(u.uploadId);
        return out;
      };
      // A streaming upload whose process died after starting its multipart upload.
      const dead = await catalog.allocateResourceId();
      const deadUpload = await presigner.start(originalKey(dead, 1, 'bin'));
      // A direct upload a client is filling: one of its two parts sent.
      const res = await svc.fetch('/v1/libraries/default/direct-uploads', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileName: 'big.bin', size: 6 * 1024 * 1024, sha256: 'a'.repeat(64) }),
      });
      expect(res.status).toBe(201);
      const ticket = (await res.json()) as { id: string; resourceId: number; parts: { url: string }[] };
      expect((await fetch(ticket.parts[0]!.url, { method: 'PUT', body: new Uint8Array(5 * 1024 * 1024) })).status).toBe(200);
      await sleep(1500);
      // A streaming upload that started a moment ago.
      const young = await catalog.allocateResourceId();
      const youngUpload = await presigner.start(originalKey(young, 1, 'bin'));
      const ids = [dead, ticket.resourceId, young];
      const directUpload = await uploads(ticket.resourceId);
      expect(directUpload).toHaveLength(1);

      // A dry run aborts nothing.
      await sweep(ids, { graceSeconds: 3600, dryRun: true });
      expect(await uploads(dead)).toEqual([deadUpload]);

      const page = await sweep(ids, { graceSeconds: 3600 });
      expect(page.abandonedWrites).toBe(1);
      expect(await uploads(dead)).toEqual([]);
      // The direct upload is older than the limit too, but its URLs are valid: kept.
      expect(await uploads(ticket.resourceId)).toEqual(directUpload);
      expect(await uploads(young)).toEqual([youngUpload]);

      // Seven hours on, its URLs (6 h) and the hour to complete are over: the next sweep aborts it.
      const sweeper = new OrphanSweeper({
        catalog,
        store,
        directUploads: new PendingDirectUploads(svc.core.redis, svc.config.redis.prefix),
        multipartMaxAgeSeconds: 86_400,
      });
      const later = await sweeper.sweep({
        fromShard: shardOf(ticket.resourceId),
        shards: 1,
        graceSeconds: 86_400,
        dryRun: false,
        removeUnindexed: false,
        now: Date.now() + 7.5 * 3600_000,
      });
      expect(later.abandonedWrites).toBe(1);
      expect(await uploads(ticket.resourceId)).toEqual([]);
      const complete = await svc.fetch(`/v1/direct-uploads/${ticket.id}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parts: [{ partNumber: 1, etag: 'x' }] }),
      });
      expect(complete.status).toBe(404);
      await presigner.abort(originalKey(young, 1, 'bin'), youngUpload);
    },
  );

  it('refuses bad paging and grace values with a 400 that says what to send', async () => {
    // Admin actions take JSON only (a text/plain body is what a cross-site form posts: 415, issue 21).
    const json = { 'content-type': 'application/json' };
    const res = await svc.fetch('/v1/admin/sweep', { method: 'POST', headers: json, body: JSON.stringify({ graceSeconds: -1 }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/graceSeconds/);
    const res2 = await svc.fetch('/v1/admin/sweep', { method: 'POST', headers: json, body: JSON.stringify({ shards: 100000 }) });
    expect(res2.status).toBe(400);
  });
});
