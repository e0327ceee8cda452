import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLibrary } from '../harness/libraries.js';
import { reprDigest } from '../../shared/upload/digest.js';
import { form, onStores, startService, TEST_KEY, type RedisMode, type StorageKind, type TestService } from '../harness/service.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const originals = (keys: string[]) => keys.filter((k) => /\/original[^/]*$/.test(k));

// The cluster variant runs on the fs store only: the Redis layer is what differs.
describe.each(
  onStores<[StorageKind, RedisMode]>([
    ['fs', 'single'],
    ['s3', 'single'],
    ['fs', 'cluster'],
  ]),
)('checksum de-duplication (%s store, %s redis)', (storage, redis) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage, { redis, env: { WORKER_CONCURRENCY: '4' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  async function library(dedupe: 'reject' | 'reuse' | 'allow') {
    return createLibrary(svc, { name: `lib-${dedupe}-${randomBytes(3).toString('hex')}`, dedupe });
  }
  const upload = (lib: string | number, data: Uint8Array | string, query = '?wait=30', extra: Record<string, string> = {}) =>
    svc.fetch(`/v1/libraries/${lib}/files${query}`, { method: 'POST', body: form({ ...extra, file: { name: 'same.bin', data } }) });

  it.each(['reject', 'reuse', 'allow'] as const)(
    '20 concurrent uploads of one file under "%s" leave the right resources and copies',
    async (policy) => {
      const lib = await library(policy);
      const bytes = randomBytes(40_000);
      const before = originals(await svc.allObjects()).length;
      const answers = await Promise.all(Array.from({ length: 20 }, () => upload(lib.id, bytes)));
      const statuses = answers.map((r) => r.status);
      const ids = answers.map((r) => r.headers.get('x-resource-id'));
      const count = await svc.core.catalog.countResources(lib.id);
      const stored = originals(await svc.allObjects()).length - before;

      if (policy === 'allow') {
        expect(statuses).toEqual(Array(20).fill(204));
        expect(new Set(ids).size).toBe(20);
        expect(count).toBe(20);
        expect(stored).toBe(20);
        return;
      }
      expect(count).toBe(1);
      expect(stored).toBe(1);
      const [survivor] = (await svc.core.catalog.listResources({ library: lib.id, limit: 10 })).items;
      expect(survivor).toMatchObject({ status: 'ready', checksum: sha256(bytes) });
      if (policy === 'reject') {
        expect(statuses.filter((s) => s === 204)).toHaveLength(1);
        expect(statuses.filter((s) => s === 400)).toHaveLength(19);
        const problems = await Promise.all(answers.filter((r) => r.status === 400).map((r) => r.json()));
        for (const p of problems) {
          expect(p.detail).toBe(`Duplicate file upload, file matches resources: ${survivor!.id}`);
          expect(p).toMatchObject({ code: 'duplicate', matches: [survivor!.id] });
        }
      } else {
        // reuse: every upload resolves to the one resource that stays.
        expect(statuses).toEqual(Array(20).fill(204));
        expect(new Set(ids)).toEqual(new Set([String(survivor!.id)]));
      }
    },
  );

  it('without wait, the duplicate job fails with the ids it matches and /wait answers 400', async () => {
    const lib = await library('reject');
    const bytes = randomBytes(1000);
    const first = await upload(lib.name, bytes);
    expect(first.status).toBe(204);
    const firstId = Number(first.headers.get('x-resource-id'));
    const dup = await upload(lib.name, bytes, '');
    expect(dup.status).toBe(202);
    const { resources } = await dup.json();
    const waited = await svc.fetch(`/v1/jobs/${resources[0].jobId}/wait?timeout=30`);
    expect(waited.status).toBe(400);
    expect((await waited.json()).detail).toBe(`Duplicate file upload, file matches resources: ${firstId}`);
    const job = await (await svc.fetch(`/v1/jobs/${resources[0].jobId}`)).json();
    expect(job).toMatchObject({ state: 'failed', code: 'duplicate', duplicateOf: [firstId] });
    expect((await svc.fetch(`/v1/resources/${resources[0].id}`)).status).toBe(404);
  });

  it('deleting a resource releases its claim', async () => {
    const lib = await library('reject');
    const bytes = randomBytes(2000);
    const a = await upload(lib.id, bytes);
    expect(a.status).toBe(204);
    expect((await upload(lib.id, bytes)).status).toBe(400);
    expect((await svc.fetch(`/v1/resources/${a.headers.get('x-resource-id')}`, { method: 'DELETE' })).status).toBe(204);
    const again = await upload(lib.id, bytes);
    expect(again.status).toBe(204);
    expect(again.headers.get('x-resource-id')).not.toBe(a.headers.get('x-resource-id'));
  });

  it('replacing a file moves the claim to the new bytes, and removes the old version', async () => {
    const lib = await library('reject');
    const [bytesA, bytesB] = [randomBytes(3000), randomBytes(3000)];
    const a = await upload(lib.id, bytesA);
    const id = a.headers.get('x-resource-id')!;
    const replaced = await svc.fetch(`/v1/resources/${id}/file?wait=30`, {
      method: 'PUT',
      body: form({ file: { name: 'b.bin', data: bytesB } }),
    });
    expect(replaced.status).toBe(204);
    expect(replaced.headers.get('x-resource-id')).toBe(id);
    const rec = await (await svc.fetch(`/v1/resources/${id}`)).json();
    expect(rec).toMatchObject({
      fileVersion: 2,
      checksum: sha256(bytesB),
      size: 3000,
      fileName: 'b.bin',
      status: 'ready',
      jobId: `ingest-${id}-2`,
    });
    const keys = (await svc.allObjects()).filter((k) => k.includes(`/${id}/`));
    expect(keys.some((k) => k.includes('/v1/'))).toBe(false);
    expect(originals(keys)).toHaveLength(1);

    // A's bytes are free again; B's now belong to the resource.
    expect((await upload(lib.id, bytesA)).status).toBe(204);
    const dupB = await upload(lib.id, bytesB);
    expect(dupB.status).toBe(400);
    expect((await dupB.json()).matches).toEqual([Number(id)]);
  });

  it('pre-flight: which of many checksums exist, and as which resources, in one call', async () => {
    const [l1, l2] = [await library('allow'), await library('allow')];
    const [x, y] = [randomBytes(500), randomBytes(500)];
    const ix = (await upload(l1.id, x)).headers.get('x-resource-id');
    const iy = (await upload(l2.id, y)).headers.get('x-resource-id');
    const missing = sha256(randomBytes(10));
    const ask = (body: unknown) =>
      svc.fetch('/v1/checksums', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const all = await (await ask({ checksums: [sha256(x), sha256(y).toUpperCase(), missing] })).json();
    expect(all.existing).toEqual({ [sha256(x)]: [{ id: Number(ix), library: l1.id }], [sha256(y)]: [{ id: Number(iy), library: l2.id }] });
    expect(all.missing).toEqual([missing]);
    const inL1 = await (await ask({ checksums: [sha256(x), sha256(y)], library: l1.name })).json();
    expect(Object.keys(inL1.existing)).toEqual([sha256(x)]);
    expect(inL1.missing).toEqual([sha256(y)]);

    const many = Array.from({ length: 10_000 }, (_, i) => sha256(`n${i}`));
    const big = await ask({ checksums: many });
    expect(big.status).toBe(200);
    expect((await big.json()).missing).toHaveLength(10_000);
    const tooMany = await ask({ checksums: [...many, sha256('one more')] });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({
      limit: 10_000,
      detail: expect.stringMatching(/at most 10000 checksums per call but received 10001/),
    });
    const bad = await ask({ checksums: [sha256('ok'), 'not-a-sha'] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toMatch(/checksums\[1\] to be a SHA-256 as 64 hex digits but received "not-a-sha"/);

    expect((await svc.fetch(`/v1/checksums/${sha256(x)}`)).status).toBe(200);
    expect((await svc.fetch(`/v1/checksums/${missing}`)).status).toBe(404);
  });

  it('pre-flight already sees uploads whose job has not run yet, and the first upload is the one that stays', async () => {
    const idle = await startService(storage, { redis, worker: false });
    try {
      const bytes = randomBytes(700);
      const first = await idle.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ file: { name: 'p.bin', data: bytes } }),
      });
      const second = await idle.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ file: { name: 'p.bin', data: bytes } }),
      });
      const [id1, id2] = [Number(first.headers.get('x-resource-id')), Number(second.headers.get('x-resource-id'))];
      const seen = await (
        await idle.fetch('/v1/checksums', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ checksums: [sha256(bytes)] }),
        })
      ).json();
      expect(seen.existing[sha256(bytes)].map((m: { id: number }) => m.id)).toEqual([id1, id2]);
      // Whichever job runs first, the later upload is the duplicate of the earlier one.
      expect(await idle.core.catalog.checksums.claim(sha256(bytes), id2, 1, 'reject')).toEqual([id1]);
      expect(await idle.core.catalog.checksums.claim(sha256(bytes), id1, 1, 'reject')).toEqual([]);
    } finally {
      await idle.close();
    }
  });

  it('a declared duplicate is refused before its bytes are sent (Repr-Digest + Expect: 100-continue)', async () => {
    const lib = await library('reject');
    const bytes = randomBytes(5000);
    const firstId = (await upload(lib.id, bytes)).headers.get('x-resource-id');
    const boundary = 'early';
    const result = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${svc.url}/v1/libraries/${lib.id}/files?wait=30`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': 100_000,
          'repr-digest': reprDigest(sha256(bytes)),
          expect: '100-continue',
        },
      });
      req.on('continue', () => {
        continued = true;
        req.destroy();
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, continued }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(result.continued).toBe(false);
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body).detail).toBe(`Duplicate file upload, file matches resources: ${firstId}`);
  });

  it('a new file with Expect: 100-continue gets its 100 and is stored', async () => {
    const lib = await library('reject');
    const bytes = Buffer.from('fresh bytes ' + randomBytes(8).toString('hex'));
    const boundary = 'cont';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.txt"\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${svc.url}/v1/libraries/${lib.id}/files?wait=30`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': body.length,
          'repr-digest': reprDigest(sha256(bytes)),
          expect: '100-continue',
        },
      });
      req.on('continue', () => req.end(body));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(204);
  });

  it('a declared digest that does not match the bytes is refused and nothing is stored', async () => {
    const lib = await library('reject');
    const before = await svc.allObjects();
    const res = await upload(lib.id, 'actual bytes', '', { sha256: sha256('other bytes') });
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(/declared SHA-256 of "same.bin" \([0-9a-f]{64}\) does not match its bytes/);
    expect((await svc.allObjects()).sort()).toEqual(before.sort());
    expect(await svc.core.catalog.countResources(lib.id)).toBe(0);
  });

  it('a malformed digest gets 400 with the expected form', async () => {
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      headers: { 'repr-digest': 'sha-256=abc' },
      body: form({ file: { name: 'a.txt', data: 'a' } }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(
      /Expected the Repr-Digest header to be sha-256=:<base64 of the 32-byte SHA-256>: \(RFC 9530\)/,
    );
    const field = await upload('default', 'a', '', { sha256: 'xyz' });
    expect(field.status).toBe(400);
    expect((await field.json()).detail).toMatch(/the "sha256" field/);
  });

  it('under reuse, a declared duplicate part is skipped and resolves to the existing resource', async () => {
    const lib = await library('reuse');
    const bytes = randomBytes(4000);
    const firstId = (await upload(lib.id, bytes)).headers.get('x-resource-id');
    const before = await svc.allObjects();
    const res = await upload(lib.id, bytes, '', { sha256: sha256(bytes) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-resource-id')).toBe(firstId);
    expect((await res.json()).resources[0]).toMatchObject({ id: Number(firstId), reused: true, status: 'ready' });
    expect((await svc.allObjects()).sort()).toEqual(before.sort());
  });
});
