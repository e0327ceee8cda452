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
import type { SweepPage } from '../../shared/services/orphan-sweeper.js';
import { form, startService, type StorageKind, type TestService } from '../harness/service.js';
import { audit, sleep } from './lib/audit.js';

const shardOf = (id: number) => id % SHARD_COUNT;

describe.each<StorageKind>(['fs', 's3'])('orphan sweeper and missing-object check (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage);
  });
  afterAll(async () => {
    await svc?.close();
  });

  async function upload(name: string): Promise<number> {
    const res = await svc.fetch('/v1/libraries/default/files?wait=20', { method: 'POST', body: form({ file: { name, data: `${name} ${Math.random()}` } }) });
    expect(res.status).toBe(204);
    return Number(res.headers.get('x-resource-id'));
  }

  /** Sweeps the shards of `ids` through the admin endpoint. */
  async function sweep(ids: number[], body: Record<string, unknown>): Promise<SweepPage> {
    const total: SweepPage = { fromShard: 0, nextShard: null, scanned: 0, orphans: [], young: 0, unindexed: [], abandonedWrites: 0 };
    for (const shard of new Set(ids.map(shardOf))) {
      const res = await svc.fetch('/v1/admin/sweep', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fromShard: shard, shards: 1, ...body }) });
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
    const tempFile = storage === 'fs' ? path.join(svc.config.storage.driver === 'fs' ? svc.config.storage.root : '', 'resources', shardOf(staged).toString(16).padStart(3, '0'), String(staged), 'v1', 'x.incomplete-abc') : '';
    if (tempFile) await fs.writeFile(tempFile, 'half');
    await sleep(1200);
    // An upload in flight right now: staged a moment ago, record not yet created.
    const inFlight = await svc.core.catalog.allocateResourceId();
    await svc.core.store.put(originalKey(inFlight, 1, 'png'), Buffer.from('in flight'));
    const ids = [kept, replaced, unindexed, staged, inFlight];

    const dry = await sweep(ids, { graceSeconds: 1, dryRun: true });
    expect(dry.orphans.sort()).toEqual([originalKey(staged, 1, 'jpg'), strayVersion].sort());
    expect(await svc.core.store.head(strayVersion)).toBeDefined();

    const page = await sweep(ids, { graceSeconds: 1 });
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
    await svc.core.catalog.createResources([{ ...lostRec, id: stuckId, status: 'processing', jobId: ingestJobId(stuckId, 1), storageKey: stuckKey, checksum: '1'.repeat(64) }]);
    const stuck: { id: number; jobId: string }[] = [];
    const missing: { id: number; key: string }[] = [];
    let checked = 0;
    for (let cursor: string | null = null; ; ) {
      const res = await svc.fetch(`/v1/admin/check?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const p = (await res.json()) as { checked: number; missing: { id: number; key: string }[]; stuck: { id: number; jobId: string }[]; nextCursor: string | null };
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
