import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, startService, storageKinds, TEST_KEY, type StorageKind, type TestService } from '../harness/service.js';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { until } from '../harness/until.js';

const MiB = 1024 * 1024;

describe.each<StorageKind>(storageKinds())('bad input gets a clear problem and leaves nothing behind (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage, { env: { MAX_UPLOAD_BYTES: '1M' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** Runs `fn` and asserts the store and the catalog look exactly as before. */
  async function leavesNothing(fn: () => Promise<void>) {
    const objectsBefore = (await svc.allObjects()).sort();
    const countBefore = await svc.core.catalog.countResources();
    await fn();
    // A disconnect is noticed asynchronously, and a part may still be landing in the store
    // when the client is gone: wait until the store has held what it held before for half
    // a second running, then insist.
    let steady = 0;
    const settled = async () => {
      steady = (await svc.allObjects()).length === objectsBefore.length ? steady + 1 : 0;
      return steady >= 5;
    };
    await until('the store to settle where it was', settled, 10_000, 100).catch(() => undefined);
    expect((await svc.allObjects()).sort()).toEqual(objectsBefore);
    expect(await svc.core.catalog.countResources()).toBe(countBefore);
  }

  async function expectProblem(res: Response, status: number, detail: RegExp) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await res.json();
    expect(body).toMatchObject({ status, instance: expect.any(String), type: expect.stringMatching(/^urn:media-ingest:problem:/) });
    expect(body.detail).toMatch(detail);
    return body;
  }

  it.each([
    ['no key', undefined],
    ['a wrong key', 'Bearer wrong-key-0123456789abcdef'],
    ['another scheme', `Basic ${Buffer.from(`x:${TEST_KEY}`).toString('base64')}`],
  ])('refuses %s with 401', async (_label, authorization) => {
    await leavesNothing(async () => {
      const res = await fetch(`${svc.url}/v1/libraries/default/files`, {
        method: 'POST',
        headers: authorization ? { authorization } : {},
        body: form({ file: { name: 'a.txt', data: 'x' } }),
      });
      await expectProblem(res, 401, authorization?.startsWith('Bearer') ? /API key is not valid/ : /Bearer/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });
  });

  it('answers 404 for an unknown library', async () => {
    await leavesNothing(async () => {
      const res = await svc.fetch('/v1/libraries/nope/files', { method: 'POST', body: form({ file: { name: 'a.txt', data: 'x' } }) });
      await expectProblem(res, 404, /library "nope"/);
      expect(res.headers.get('x-resource-id')).toBe('');
    });
  });

  it('answers 415 when the body is not multipart', async () => {
    await leavesNothing(async () => {
      const res = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await expectProblem(res, 415, /multipart\/form-data.*application\/json/);
    });
  });

  it('answers 400 for a multipart body without a boundary, or one that is cut short', async () => {
    await leavesNothing(async () => {
      const noBoundary = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; charset=utf-8' },
        body: 'x',
      });
      await expectProblem(noBoundary, 400, /could not be parsed/);
      const cut = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
        body: `${multipartFileHead('XYZ', 'file', 'a.bin')}some bytes but never the closing boundary`,
      });
      await expectProblem(cut, 400, /could not be parsed/);
    });
  });

  it('answers 400 when there is no file part', async () => {
    await leavesNothing(async () => {
      const res = await svc.fetch('/v1/libraries/default/files', { method: 'POST', body: form({ title: 'only a title' }) });
      await expectProblem(res, 400, /no file part/);
    });
  });

  it('answers 400 for an empty file, and for a bad field, naming what to change', async () => {
    await leavesNothing(async () => {
      const empty = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ ok: { name: 'ok.txt', data: 'fine' }, file: { name: 'empty.txt', data: '' } }),
      });
      await expectProblem(empty, 400, /"empty.txt" is empty/);
      const vis = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ visibility: 'everyone', file: { name: 'a.txt', data: 'x' } }),
      });
      await expectProblem(vis, 400, /visibility to be "private" or "public" but received "everyone"/);
      const date = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ file: { name: 'a.txt', data: 'x' }, created: 'yesterday' }),
      });
      await expectProblem(date, 400, /created to be an ISO 8601 date/);
      const wait = await svc.fetch('/v1/libraries/default/files?wait=soon', {
        method: 'POST',
        body: form({ file: { name: 'a.txt', data: 'x' } }),
      });
      await expectProblem(wait, 400, /wait to be a whole number of seconds/);
    });
  });

  it('answers 413 with the limit mid-stream, stores nothing, and keeps serving', async () => {
    await leavesNothing(async () => {
      const boundary = 'b0undary';
      const chunk = Buffer.alloc(256 * 1024, 1);
      // 8 MiB declared and streamed; the limit is 1 MiB, so the server answers early.
      const chunks = [multipartFileHead(boundary, 'file', 'big.bin'), ...Array.from({ length: 32 }, () => chunk), multipartEnd(boundary)];
      const length = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
      const res = await rawRequest(`${svc.url}/v1/libraries/default/files`, {
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': length,
        },
        chunks,
      });
      expect(res).not.toBe('hung-up');
      if (res === 'hung-up') return;
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.headers['x-resource-id']).toBe('');
      const problem = JSON.parse(res.body);
      expect(problem.detail).toContain('1 MiB');
      expect(problem.limit).toBe(MiB);
    });
    // A file of exactly the limit is fine.
    const ok = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({ file: { name: 'edge.bin', data: new Uint8Array(MiB) } }),
    });
    expect(ok.status).toBe(202);
  });

  it('drops everything when the client hangs up mid-upload, including files already complete in that request', async () => {
    await leavesNothing(async () => {
      const boundary = 'hangup';
      const chunk = Buffer.alloc(64 * 1024, 2);
      const chunks = [
        multipartFileHead(boundary, 'first', 'done.txt'),
        'a complete small file',
        `\r\n${multipartFileHead(boundary, 'second', 'partial.bin')}`,
        ...Array.from({ length: 8 }, () => chunk),
      ];
      const res = await rawRequest(`${svc.url}/v1/libraries/default/files`, {
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': 10 * MiB,
        },
        chunks,
        hangUpAfterChunks: 8,
        chunkDelayMs: 5,
      });
      expect(res).toBe('hung-up');
    });
    // The server is still fine.
    expect((await svc.fetch('/healthz')).status).toBe(200);
  });

  it('answers 400 with the limit when a request has more file parts than allowed', async () => {
    const small = await startService(storage, { env: { MAX_FILES_PER_REQUEST: '2' }, worker: false });
    try {
      const before = await small.allObjects();
      const res = await small.fetch('/v1/libraries/default/files', {
        method: 'POST',
        body: form({ a: { name: 'a.txt', data: 'a' }, b: { name: 'b.txt', data: 'b' }, c: { name: 'c.txt', data: 'c' } }),
      });
      await expectProblem(res, 400, /at most 2 file parts/);
      expect(await small.allObjects()).toEqual(before);
      expect(await small.core.catalog.countResources()).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('answers 404 with problem+json for unknown routes, resources and jobs', async () => {
    await expectProblem(await svc.fetch('/v1/nothing-here'), 404, /route/);
    await expectProblem(await svc.fetch('/v1/resources/999999'), 404, /resource "999999"/);
    await expectProblem(await svc.fetch('/v1/resources/abc'), 404, /resource "abc"/);
    await expectProblem(await svc.fetch('/v1/jobs/ingest-999999-1'), 404, /job/);
    await expectProblem(await svc.fetch('/v1/jobs/whatever'), 404, /job/);
  });

  it('validates library creation and refuses a duplicate name with 409', async () => {
    const post = (body: string, type = 'application/json') =>
      svc.fetch('/v1/libraries', { method: 'POST', headers: { 'content-type': type }, body });
    await expectProblem(await post('{not json'), 400, /not valid JSON/);
    await expectProblem(await post('{"name":"123"}'), 400, /Expected name/);
    await expectProblem(await post('{"name":"ok-name","dedupe":"sometimes"}'), 400, /dedupe to be one of reject, reuse, allow/);
    await expectProblem(await post('name=x', 'application/x-www-form-urlencoded'), 415, /application\/json/);
    expect((await post(`{"name":"Dup-${storage}"}`)).status).toBe(201);
    await expectProblem(await post(`{"name":"dup-${storage}"}`), 409, /already exists/);
  });
});
