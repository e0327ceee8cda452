import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetadataOnlyResource } from '../../shared/services/metadata-only.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import { createLogger } from '../../shared/logger.js';
import type { ResourceRecord } from '../../shared/model.js';
import { readRecordCopy, writeRecordCopy } from '../../shared/services/record-copy.js';
import { recordKey } from '../../shared/storage/layout.js';
import { remapPage, type RemapPageDeps } from '../../worker/jobs/remap-page.js';
import { until } from '../harness/until.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import { batchSettled, json, photo, putMappings, uploadReady } from '../harness/revert.js';
import { form, REDIS_MODES, startService, type TestService } from '../harness/service.js';

describe.each(REDIS_MODES)('revert and bulk revert (fs store, %s redis)', (redis) => {
  let svc: TestService;
  beforeAll(async () => {
    // I/O-bound fast-path jobs: more slots than cores, as a deployment would configure.
    svc = await startService('fs', { redis, env: { WORKER_CONCURRENCY: '8', REPROCESS_CHUNK_SIZE: '500', REPROCESS_MAX_QUEUED: '2000' } });
    await svc.core.catalog.createLibrary({ name: 'photos', dedupe: 'allow' });
  });
  afterAll(async () => {
    await svc?.close();
  }, 60_000);

  it('mappings: GET defaults at version 1, PUT bumps the version once (an identical PUT does not), stale version → 409, bad entry → 400', async () => {
    const first = await (await svc.fetch('/v1/mappings')).json();
    expect(first.version).toBe(1);
    expect(Object.keys(first.fields)).toEqual(
      expect.arrayContaining([
        'title',
        'description',
        'tags',
        'creator',
        'copyright',
        'capturedAt',
        'make',
        'model',
        'lens',
        'latitude',
        'longitude',
        'rating',
      ]),
    );
    const a = await putMappings(svc, { ...first.fields, maker: ['EXIF:Make'] });
    expect(a).toMatchObject({ version: 2, changed: true });
    expect(await putMappings(svc, { ...first.fields, maker: ['EXIF:Make'] })).toMatchObject({ version: 2, changed: false });
    const stale = await svc.fetch('/v1/mappings', {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ version: 1, fields: first.fields }),
    });
    expect(stale.status).toBe(409);
    const bad = await svc.fetch('/v1/mappings', {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ fields: { title: ['XMP:Title', 'nogroup'] } }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toContain('fields.title.tags[1]');
  });

  it('revert of one resource: fast path from stored tags by default, {"reread": true} runs exiftool on the original again', async () => {
    const id = await uploadReady(svc, 'photos', 'r.jpg', await photo('Revertcam'));
    const v = await putMappings(svc, { camera: ['EXIF:Make'], model: ['EXIF:Model'] });
    // Prove the fast path reads no original: take the original away; a re-read would fail.
    const rec = await svc.core.catalog.requireResource(id);
    const original = await svc.core.store.get(rec.storageKey);
    const chunks: Buffer[] = [];
    for await (const c of original) chunks.push(c as Buffer);
    await svc.core.store.delete(rec.storageKey);
    const fast = await svc.fetch(`/v1/resources/${id}/reprocess?wait=30`, { method: 'POST' });
    expect(fast.status, await fast.clone().text()).toBe(204);
    const after = await (await svc.fetch(`/v1/resources/${id}`)).json();
    expect(after).toMatchObject({ status: 'ready', mappingsVersion: v.version, fields: { camera: 'Revertcam', model: 'M1' } });
    expect(after.metadata['EXIF:Make']).toBe('Revertcam');

    const reread = await svc.fetch(`/v1/resources/${id}/reprocess?wait=30`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ reread: true }),
    });
    expect(reread.status).toBe(422);
    expect((await reread.json()).detail).toMatch(/original of resource \d+ is missing/);
    await svc.core.store.put(rec.storageKey, Buffer.concat(chunks), { contentType: 'application/octet-stream' });
    const ok = await svc.fetch(`/v1/resources/${id}/reprocess`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ reread: true, renditions: false }),
    });
    expect(ok.status).toBe(202);
    const body = await ok.json();
    expect(ok.headers.get('location')).toBe(`/v1/jobs/${body.jobId}`);
    const waited = await svc.fetch(`/v1/jobs/${body.jobId}/wait?timeout=30`);
    expect(waited.status).toBe(204);
    const job = await (await svc.fetch(`/v1/jobs/${body.jobId}`)).json();
    expect(job).toMatchObject({ type: 'reprocess', state: 'completed' });
    expect(await (await svc.fetch(`/v1/resources/${id}`)).json()).toMatchObject({ status: 'ready', fields: { camera: 'Revertcam' } });

    const badBody = await svc.fetch(`/v1/resources/${id}/reprocess`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ reread: 'yes' }),
    });
    expect(badBody.status).toBe(400);
    expect((await badBody.json()).detail).toContain('Expected reread to be true or false but received "yes"');
  });

  it('a batch can be paused, resumed and cancelled; bad requests name what to change', async () => {
    const none = await svc.fetch('/v1/reprocess', { method: 'POST', headers: json, body: JSON.stringify({}) });
    expect(none.status).toBe(400);
    expect((await none.json()).detail).toContain('Name one library');
    expect((await svc.fetch('/v1/batches/999999')).status).toBe(404);

    await putMappings(svc, { brand2: ['EXIF:Make'] });
    const b = await (await svc.fetch('/v1/reprocess', { method: 'POST', headers: json, body: JSON.stringify({ all: true }) })).json();
    const paused = await (await svc.fetch(`/v1/batches/${b.id}/pause`, { method: 'POST' })).json();
    expect(['paused', 'completed']).toContain(paused.state);
    if (paused.state === 'paused') {
      // Pausing a paused batch is a no-op, not an error.
      expect((await svc.fetch(`/v1/batches/${b.id}/pause`, { method: 'POST' })).status).toBe(200);
      expect((await (await svc.fetch(`/v1/batches/${b.id}/resume`, { method: 'POST' })).json()).state).toBe('running');
      const cancelled = await svc.fetch(`/v1/batches/${b.id}`, { method: 'DELETE' });
      const body = await cancelled.json();
      expect(['cancelled', 'completed']).toContain(body.state);
      if (body.state === 'cancelled') {
        expect(body.finished).not.toBeNull();
        expect((await svc.fetch(`/v1/batches/${b.id}/resume`, { method: 'POST' })).status).toBe(409);
      }
    }
  });

  it('crash safety: a re-run job counts once, and a second copy of a fan-out step cannot move the cursor', async () => {
    const batches = svc.core.catalog.batches;
    const b = await batches.create({ library: null, staleOnly: true, reread: false, renditions: false, mappingsVersion: 1, indexSize: 3 });
    expect(await batches.advance(b.id, 0, 30, 3, 3, true)).toBe(true);
    // The same page again (the step re-run after a crash, or a forked copy): refused.
    expect(await batches.advance(b.id, 0, 30, 3, 3, true)).toBe(false);
    expect(await batches.count(b.id, 10, 'done')).toBe(true);
    expect(await batches.count(b.id, 10, 'done')).toBe(false);
    expect(await batches.count(b.id, 20, 'failed')).toBe(true);
    expect((await batches.require(b.id)).state).toBe('running');
    expect(await batches.count(b.id, 30, 'skipped')).toBe(true);
    expect(await batches.require(b.id)).toMatchObject({ state: 'completed', enqueued: 3, done: 1, failed: 1, skipped: 1 });
  });

  it('a re-map page killed before counting runs again: each resource counted once, nothing written twice; cancel freezes the counts', async () => {
    const { catalog, store } = svc.core;
    const lib = await catalog.createLibrary({ name: `paged${redis}`, dedupe: 'allow' });
    const sampleId = await uploadReady(svc, 'photos', 'paged.jpg', await photo('Pagecam'));
    const { metadata } = (await readRecordCopy(store, sampleId))!;
    const base = await catalog.requireResource(sampleId);
    const old = (await catalog.mappings.get()).version;
    const recs: ResourceRecord[] = [];
    for (let i = 0; i < 24; i++) {
      const id = await catalog.allocateResourceId();
      // The last one has no stored tags to map: the page hands it to the per-resource job.
      const noExif = i === 23;
      recs.push({
        ...base,
        id,
        library: lib.id,
        jobId: `ingest-${id}-1`,
        storageKey: `resources/none/${id}`,
        mappingsVersion: old,
        noExif,
      });
    }
    await catalog.createResources(recs);
    await Promise.all(recs.map((r) => writeRecordCopy(store, r, metadata)));
    const v = await putMappings(svc, { pagedMake: ['EXIF:Make'] });
    const queue = openQueue('bulk', svc.core.redis, svc.config.redis.prefix);
    const deps: RemapPageDeps = { catalog, store, logger: createLogger('silent', 'test'), queue, jobAttempts: 2 };
    const items = (rs: ResourceRecord[]) => rs.map((r): [number, number] => [r.id, r.fileVersion]);
    const newBatch = async (n: number) => {
      const b = await catalog.batches.create({
        library: lib.id,
        staleOnly: true,
        reread: false,
        renditions: false,
        mappingsVersion: v.version,
        indexSize: n,
      });
      expect(await catalog.batches.advance(b.id, 0, 1, n, n, true)).toBe(true);
      return b.id;
    };
    const mtimes = async (rs: ResourceRecord[]) =>
      Promise.all(rs.map(async (r) => (await store.head(recordKey(r.id))).lastModified?.getTime()));

    // Killed after every write and before the count: the page's job runs again.
    const first = recs.slice(0, 12);
    const b1 = await newBatch(12);
    const killed = Object.create(catalog, {
      batches: { value: Object.create(catalog.batches, { countMany: { value: () => Promise.reject(new Error('worker killed')) } }) },
    }) as typeof catalog;
    await expect(remapPage({ ...deps, catalog: killed }, { batchId: b1, items: items(first) })).rejects.toThrow('worker killed');
    expect(await catalog.batches.require(b1)).toMatchObject({ done: 0, state: 'running' });
    const written = await mtimes(first);
    const again = await remapPage(deps, { batchId: b1, items: items(first) });
    expect(again).toMatchObject({ done: 12, skipped: 0, handedOff: 0, copiesWritten: 0, counted: 12 });
    expect(await mtimes(first)).toEqual(written);
    expect(await remapPage(deps, { batchId: b1, items: items(first) })).toMatchObject({ done: 12, counted: 0, copiesWritten: 0 });
    expect(await catalog.batches.require(b1)).toMatchObject({ state: 'completed', done: 12, failed: 0, skipped: 0 });
    for (const r of await catalog.getResources(first.map((x) => x.id))) {
      expect(r).toMatchObject({ status: 'ready', mappingsVersion: v.version, fields: { pagedMake: 'Pagecam' } });
    }
    expect((await readRecordCopy(store, first[0]!.id))!.record.fields).toEqual({ pagedMake: 'Pagecam' });

    // Cancelled after its first page: the rest end without work, the counts stay.
    const rest = recs.slice(12);
    const b2 = await newBatch(12);
    expect(await remapPage(deps, { batchId: b2, items: items(rest.slice(0, 6)) })).toMatchObject({ done: 6, counted: 6 });
    expect((await svc.fetch(`/v1/batches/${b2}`, { method: 'DELETE' })).status).toBe(200);
    expect(await remapPage(deps, { batchId: b2, items: items(rest.slice(6)) })).toMatchObject({ done: 0, counted: 0, handedOff: 0 });
    expect(await catalog.batches.require(b2)).toMatchObject({ state: 'cancelled', enqueued: 12, done: 6, failed: 0, skipped: 0 });
    const untouched = await catalog.getResources(rest.slice(6).map((x) => x.id));
    expect(untouched.map((r) => r!.mappingsVersion)).toEqual(rest.slice(6).map(() => old));

    // A resource with no stored tags to map goes to its per-resource job, whose failure
    // (no original to re-read) is counted with its reason on the resource.
    const b3 = await newBatch(1);
    const last = rest.at(-1)!;
    expect(await remapPage(deps, { batchId: b3, items: items([last]) })).toMatchObject({ handedOff: 1, counted: 0 });
    const settled = await batchSettled(svc, b3);
    expect(settled).toMatchObject({ state: 'completed', done: 0, failed: 1 });
    const failed = await until('the handed-off resource to fail', async () => {
      const r = await catalog.getResource(last.id);
      return r?.status === 'failed' && r;
    });
    expect(failed.error).toMatch(/original of resource \d+ is missing/);
    await queue.close();
  });
});

describe("a resource with metadata and no file yet (a compat face's create_resource)", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs');
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('revert answers 409 and leaves it ready; a bulk revert skips it; /image says it has no file', async () => {
    const library = await svc.core.catalog.createLibrary({ name: 'drafts' });
    const draft = await createMetadataOnlyResource(svc.core, library, new UploadFieldsBuilder().build(), {
      fileName: 'later.jpg',
      source: 'test',
    });
    const real = await uploadReady(svc, 'drafts', 'now.jpg', await photo('Nowcam'));

    const one = await svc.fetch(`/v1/resources/${draft.id}/reprocess`, { method: 'POST', headers: json, body: '{}' });
    expect(one.status).toBe(409);
    expect((await one.json()).detail).toContain(`PUT /v1/resources/${draft.id}/file`);
    expect(await (await svc.fetch(`/v1/resources/${draft.id}`)).json()).toMatchObject({ status: 'ready', error: null });

    const started = await svc.fetch('/v1/reprocess', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ library: 'drafts', staleOnly: false }),
    });
    expect(started.status).toBe(202);
    const { id } = await started.json();
    expect(await batchSettled(svc, id)).toMatchObject({ state: 'completed', total: 2, done: 1, skipped: 1, failed: 0 });
    expect(await (await svc.fetch(`/v1/resources/${draft.id}`)).json()).toMatchObject({ status: 'ready', error: null });
    expect(await (await svc.fetch(`/v1/resources/${real}`)).json()).toMatchObject({ status: 'ready' });

    for (const path of [`/image/0x0/${draft.id}.jpg`, `/image/320x320/${draft.id}.webp`]) {
      const res = await svc.fetch(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).detail).toContain('has no file yet');
    }
    // The storage check expects no original of it (it used to fail on the empty key).
    const check = await svc.fetch('/v1/admin/check');
    expect(check.status, await check.clone().text()).toBe(200);
    expect((await check.json()).missing).toEqual([]);
  });
});

describe('exiftool timeout', () => {
  let svc: TestService;
  beforeAll(async () => {
    // 1 ms: every read times out — a real exiftool, really killed.
    svc = await startService('fs', { env: { EXIFTOOL_TASK_TIMEOUT_MS: '1', JOB_ATTEMPTS: '2' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('is retried, then fails with the reason (504) — never a silent success with empty metadata', async () => {
    const res = await svc.fetch('/v1/libraries/default/files?wait=60', {
      method: 'POST',
      body: form({ file: { name: 't.jpg', data: await photo('Slowcam') } }),
    });
    expect(res.status).toBe(504);
    const body = await res.json();
    expect(body.detail).toMatch(/exiftool did not finish reading the file within 1 ms/);
    const rec = await (await svc.fetch(`/v1/resources/${res.headers.get('x-resource-id')}`)).json();
    expect(rec).toMatchObject({ status: 'failed', errorCode: 'metadata_timeout' });
    const job = await svc.fetch(`/v1/jobs/${rec.jobId}`);
    expect((await job.json()).attemptsMade).toBe(2);
  }, 90_000);
});
