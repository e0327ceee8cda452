// Uploads through the API that end early on S3 leave nothing: no record, no object, and
// no incomplete multipart upload holding parts (ListMultipartUploads) — whether the
// client hangs up mid-multipart, the size limit cuts the body, or the commit fails.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { form, s3Missing, startService, type TestService } from '../harness/service.js';
import { until } from '../faults/lib/audit.js';

const MiB = 1024 * 1024;

describe.skipIf(s3Missing())('uploads cut short leave nothing on S3', () => {
  let svc: TestService;
  let before: { count: number; objects: string[] };
  beforeAll(async () => {
    svc = await startService('s3', { env: { S3_PART_SIZE: '5M', MAX_UPLOAD_BYTES: '8M', RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => svc?.close());
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const snapshot = async () => ({ count: await svc.core.catalog.countResources(), objects: (await svc.allObjects()).sort() });
  /** `allObjects` lists incomplete multipart uploads too: equal means none was left open. */
  const leftNothing = async () => {
    const now = await snapshot();
    return now.count === before.count && JSON.stringify(now.objects) === JSON.stringify(before.objects);
  };

  /** A multipart/form-data body of one file of `size` bytes, in 64 KiB chunks. */
  function body(size: number, boundary: string): Buffer[] {
    const chunks = Array.from({ length: Math.ceil(size / (64 * 1024)) }, () => randomBytes(64 * 1024));
    return [Buffer.from(multipartFileHead(boundary, 'file', 'big.bin')), ...chunks, Buffer.from(multipartEnd(boundary))];
  }

  it('a size-limit cut after the first part was uploaded: 413, and the multipart upload is aborted', async () => {
    before = await snapshot();
    const chunks = body(12 * MiB, 'cut');
    const res = await rawRequest(`${svc.url}/v1/libraries/default/files`, {
      headers: {
        authorization: `Bearer ${svc.key}`,
        'content-type': 'multipart/form-data; boundary=cut',
        'content-length': chunks.reduce((n, c) => n + c.length, 0),
      },
      chunks,
    });
    expect(res === 'hung-up' ? res : res.status).toBe(413);
    expect(await snapshot()).toEqual(before);
  });

  it('a client that hangs up after 7 MiB (one part stored, the next filling): the multipart upload is aborted', async () => {
    before = await snapshot();
    const chunks = body(8 * MiB - 4096, 'hang');
    // Head + 7 MiB of 64 KiB chunks, then the socket is destroyed.
    const answer = await rawRequest(`${svc.url}/v1/libraries/default/files`, {
      headers: {
        authorization: `Bearer ${svc.key}`,
        'content-type': 'multipart/form-data; boundary=hang',
        'content-length': chunks.reduce((n, c) => n + c.length, 0),
      },
      chunks,
      hangUpAfterChunks: 1 + 112,
      chunkDelayMs: 1,
    });
    expect(answer).toBe('hung-up');
    // The server learns of the hang-up by itself; the abort follows.
    await until('the cut-off upload to leave nothing', leftNothing, 20_000, 100);
  });

  it('a commit that fails after the bytes were stored in parts: the error is answered, the completed object removed', async () => {
    before = await snapshot();
    vi.spyOn(svc.core.catalog, 'createResources').mockRejectedValueOnce(new Error('the catalog refused the write'));
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({ file: { name: 'big.bin', data: randomBytes(6 * MiB) } }),
    });
    expect(res.status).toBe(500);
    await until('the failed commit to leave nothing', leftNothing, 20_000, 100);
  });

  it('stores a file of two parts once nothing fails (the same path, completed)', async () => {
    before = await snapshot();
    const res = await svc.fetch('/v1/libraries/default/files?wait=20', {
      method: 'POST',
      body: form({ file: { name: 'ok.bin', data: randomBytes(6 * MiB) } }),
    });
    expect(res.status).toBe(204);
    const after = await snapshot();
    expect(after.count).toBe(before.count + 1);
    expect(after.objects.filter((k) => k.includes('incomplete'))).toEqual([]);
  });
});
