// A bulk revert at scale: 10,000 resources paged through the catalog, with progress and
// an ETA, while an upload arriving mid-batch is done before the batch (its own lane).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../../shared/model.js';
import { writeRecordCopy } from '../../shared/services/record-copy.js';
import { batchSettled, json, photo, putMappings, uploadReady } from '../harness/revert.js';
import { startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

// On the 3-master cluster: the records spread over every master's buckets, the pages read
// and written by per-node pipelines (the smaller reprocess tests run on both Redis modes).
describe('bulk revert over 10,000 resources (fs store, Redis Cluster)', () => {
  let svc: TestService;
  beforeAll(async () => {
    // I/O-bound fast-path jobs: more slots than cores, as a deployment would configure.
    // The bulk rate (25 pages of 20 a second: 500 resources/s) keeps the batch running
    // for 20 s at least, whatever the machine, over 500 re-map pages.
    svc = await startService('fs', {
      redis: 'cluster',
      env: {
        WORKER_CONCURRENCY: '8',
        REPROCESS_CHUNK_SIZE: '500',
        REPROCESS_MAX_QUEUED: '2000',
        REMAP_PAGE_SIZE: '20',
        BULK_JOBS_PER_SECOND: '25',
      },
    });
    await svc.core.catalog.createLibrary({ name: 'photos', dedupe: 'allow' });
    await svc.core.catalog.createLibrary({ name: 'bulk', dedupe: 'allow' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('completes with monotonic progress and an ETA; an upload sent mid-batch is ready while the batch still runs', async () => {
    const N = 10_000;
    const { catalog, store } = svc.core;
    const lib = await catalog.getLibrary('bulk');
    // Seeded through the catalog and the record copies (uploading 10,000 files would test
    // uploads, not the revert); the tag set is a real exiftool read of a real photo.
    const sampleId = await uploadReady(svc, 'photos', 'sample.jpg', await photo('Bulkcam'));
    const sample = await (await svc.fetch(`/v1/resources/${sampleId}`)).json();
    const base = await catalog.requireResource(sampleId);
    const oldVersion = (await catalog.mappings.get()).version;
    const records: ResourceRecord[] = [];
    for (let i = 0; i < N; i++) {
      const id = await catalog.allocateResourceId();
      records.push({
        ...base,
        id,
        library: lib.id,
        fileName: `b${i}.jpg`,
        jobId: `ingest-${id}-1`,
        storageKey: `resources/none/${id}`,
        mappingsVersion: oldVersion,
        fields: { make: 'Bulkcam' },
      });
    }
    for (let i = 0; i < N; i += 1000) await catalog.createResources(records.slice(i, i + 1000));
    for (let i = 0; i < N; i += 200) await Promise.all(records.slice(i, i + 200).map((r) => writeRecordCopy(store, r, sample.metadata)));

    const v = await putMappings(svc, { brand: ['EXIF:Make'] });
    const res = await svc.fetch('/v1/reprocess', { method: 'POST', headers: json, body: JSON.stringify({ library: 'bulk' }) });
    expect(res.status).toBe(202);
    const batch = await res.json();
    expect(res.headers.get('location')).toBe(`/v1/batches/${batch.id}`);
    expect(batch).toMatchObject({ state: 'running', indexSize: N, mappingsVersion: v.version });

    const seen: { percent: number; eta: unknown; state: string; done: number }[] = [];
    const progress = async () => {
      const b = await (await svc.fetch(`/v1/batches/${batch.id}`)).json();
      seen.push({ percent: b.percent, eta: b.eta, state: b.state, done: b.done });
      return b;
    };
    // Mid-batch: jobs of the batch are done and thousands are queued before the upload.
    await until('the batch to be under way', async () => (await progress()).done > 0, 60_000, 200);
    await uploadReady(svc, 'photos', 'during.jpg', await photo('Duringcam'));
    const atUpload = await progress();
    expect(atUpload, 'the upload waited for the bulk backlog').toMatchObject({ state: 'running' });
    expect(atUpload.done).toBeLessThan(N);

    const last = await until(
      'the batch to finish',
      async () => {
        const b = await progress();
        return b.state !== 'running' && b;
      },
      240_000,
      500,
    );
    expect(last).toMatchObject({ state: 'completed', total: N, done: N, failed: 0, skipped: 0, totalIsEstimate: false, percent: 100 });
    expect(seen.some((s) => s.state === 'running' && s.percent > 0 && s.percent < 100 && s.eta !== null)).toBe(true);
    const percents = seen.map((s) => s.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));

    const check = await catalog.getResources(records.map((r) => r.id));
    expect(check.filter((r) => r?.mappingsVersion !== v.version || (r.fields as { brand?: string }).brand !== 'Bulkcam')).toEqual([]);
    // Nothing stale is left, so a second stale-only batch finds nothing to do.
    const again = await (
      await svc.fetch('/v1/reprocess', { method: 'POST', headers: json, body: JSON.stringify({ library: 'bulk' }) })
    ).json();
    expect(await batchSettled(svc, again.id)).toMatchObject({ state: 'completed', total: 0, scanned: N });
  }, 300_000);
});
