// The large-file path: presigned multipart upload straight to the S3 server (Ceph radosgw
// here), completed through the API, then the worker verifies the declared checksum.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { versionPrefix } from '../../shared/storage/layout.js';
import { s3Missing, startService, type TestService } from '../harness/service.js';

const MiB = 1024 * 1024;

interface Ticket {
  id: string;
  resourceId: number;
  partSize: number;
  parts: { partNumber: number; url: string }[];
  complete: string;
}

async function putParts(ticket: Ticket, data: Buffer): Promise<{ partNumber: number; etag: string }[]> {
  const out: { partNumber: number; etag: string }[] = [];
  for (const p of ticket.parts) {
    const body = data.subarray((p.partNumber - 1) * ticket.partSize, p.partNumber * ticket.partSize);
    const res = await fetch(p.url, { method: 'PUT', body: new Uint8Array(body) });
    expect(res.status, await res.clone().text()).toBe(200);
    out.push({ partNumber: p.partNumber, etag: res.headers.get('etag')! });
  }
  return out;
}

describe.skipIf(s3Missing())('direct upload to S3', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('s3', { env: { RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => svc?.close());

  /** What the store holds for the ticket's resource: objects, and incomplete multipart uploads. */
  async function left(ticket: Ticket): Promise<{ objects: string[]; uploads: string[] }> {
    const prefix = versionPrefix(ticket.resourceId, 1);
    const objects: string[] = [];
    const uploads: string[] = [];
    for await (const o of svc.core.store.list(prefix)) objects.push(o.key);
    for await (const u of svc.core.store.incompleteUploads!(prefix)) uploads.push(u.uploadId);
    return { objects, uploads };
  }

  const start = (body: object) =>
    svc.fetch('/v1/libraries/default/direct-uploads', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const complete = (t: Ticket, parts: object[]) =>
    svc.fetch(t.complete, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parts }) });

  it('takes a file in presigned parts that never pass the API, and the worker verifies its checksum', async () => {
    const data = randomBytes(6 * MiB + 123);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const res = await start({ fileName: 'big.bin', size: data.length, sha256, fields: { title: 'Big', tags: ['direct'] } });
    expect(res.status).toBe(201);
    const ticket = (await res.json()) as Ticket;
    expect(ticket.partSize).toBe(5 * MiB);
    expect(ticket.parts).toHaveLength(2);
    const parts = await putParts(ticket, data);

    const done = await complete(ticket, parts);
    expect(done.status, await done.clone().text()).toBe(202);
    expect(done.headers.get('x-resource-id')).toBe(String(ticket.resourceId));
    const jobId = ((await done.json()) as { resources: { jobId: string }[] }).resources[0]!.jobId;
    expect((await svc.fetch(`/v1/jobs/${jobId}/wait?timeout=20`)).status).toBe(204);
    const rec = (await (await svc.fetch(`/v1/resources/${ticket.resourceId}`)).json()) as {
      status: string;
      checksum: string;
      size: number;
      title: string;
      tags: string[];
      source: string;
    };
    expect(rec).toMatchObject({ status: 'ready', checksum: sha256, size: data.length, title: 'Big', tags: ['direct'], source: 'direct' });
    // Completing twice: the upload is gone.
    expect((await complete(ticket, parts)).status).toBe(404);
  });

  it('fails the resource with the reason when the bytes are not the declared file', async () => {
    const data = randomBytes(1000);
    const declared = createHash('sha256').update('something else').digest('hex');
    const ticket = (await (await start({ fileName: 'x.bin', size: data.length, sha256: declared })).json()) as Ticket;
    expect(ticket.parts).toHaveLength(1);
    const done = await complete(ticket, await putParts(ticket, data));
    expect(done.status).toBe(202);
    const jobId = ((await done.json()) as { resources: { jobId: string }[] }).resources[0]!.jobId;
    const wait = await svc.fetch(`/v1/jobs/${jobId}/wait?timeout=20`);
    expect(wait.status).toBe(422);
    expect(((await wait.json()) as { detail: string }).detail).toMatch(
      new RegExp(`^The uploaded file has SHA-256 [0-9a-f]{64} but ${declared} was declared`),
    );
  });

  it('refuses bad requests by schema, sizes over the limit, and a size that does not match the parts', async () => {
    const bad = await start({ fileName: 'a', size: 10, sha256: 'nothex' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/sha256: expected 64 hex digits/);
    const sha = 'a'.repeat(64);
    expect((await start({ fileName: 'huge', size: 2 * 1024 ** 4, sha256: sha })).status).toBe(413);
    const ticket = (await (await start({ fileName: 'short.bin', size: 500, sha256: sha })).json()) as Ticket;
    const short = await complete(ticket, await putParts(ticket, randomBytes(400)));
    expect(short.status).toBe(400);
    expect(((await short.json()) as { detail: string }).detail).toMatch(/add up to 400 bytes but 500 were declared/);
    // Neither the completed object nor an open upload stays.
    expect(await left(ticket)).toEqual({ objects: [], uploads: [] });
  });

  it('keeps the upload open when S3 refuses the part list, so a corrected completion works', async () => {
    const data = randomBytes(6 * MiB);
    const ticket = (await (
      await start({ fileName: 'retry.bin', size: data.length, sha256: createHash('sha256').update(data).digest('hex') })
    ).json()) as Ticket;
    const parts = await putParts(ticket, data);
    const wrong = await complete(ticket, [parts[0]!, { partNumber: 2, etag: '"0123456789abcdef0123456789abcdef"' }]);
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { detail: string }).detail).toMatch(
      /^S3 refused to complete the upload: .*Send every part's number and the ETag its PUT answered\.$/,
    );
    expect((await left(ticket)).uploads).toHaveLength(1);
    expect((await complete(ticket, parts)).status).toBe(202);
    expect((await left(ticket)).uploads).toEqual([]);
  });

  it('DELETE aborts the multipart upload: the parts sent are dropped, the URLs and the id stop working', async () => {
    const data = randomBytes(6 * MiB);
    const ticket = (await (await start({ fileName: 'cancel.bin', size: data.length, sha256: 'b'.repeat(64) })).json()) as Ticket;
    await putParts({ ...ticket, parts: ticket.parts.slice(0, 1) }, data);
    expect((await left(ticket)).uploads).toHaveLength(1);

    const del = await svc.fetch(`/v1/direct-uploads/${ticket.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await left(ticket)).toEqual({ objects: [], uploads: [] });
    const late = await fetch(ticket.parts[1]!.url, { method: 'PUT', body: new Uint8Array(data.subarray(5 * MiB)) });
    expect(late.status).toBe(404);
    expect(await late.text()).toMatch(/NoSuchUpload/);
    expect((await complete(ticket, [{ partNumber: 1, etag: 'x' }])).status).toBe(404);
    expect((await svc.fetch(`/v1/direct-uploads/${ticket.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await svc.core.catalog.getResource(ticket.resourceId)).toBeUndefined();
  });

  it('DELETE of an unknown id is 404, of a malformed one 400, and a wrong secret half cancels nothing', async () => {
    const unknown = await svc.fetch('/v1/direct-uploads/du-999999999-0123456789abcdef', { method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toBe('No direct upload "du-999999999-0123456789abcdef" exists.');
    expect((await svc.fetch('/v1/direct-uploads/nope', { method: 'DELETE' })).status).toBe(400);
    const ticket = (await (await start({ fileName: 'a.bin', size: 10, sha256: 'c'.repeat(64) })).json()) as Ticket;
    const guessed = ticket.id.replace(/-[0-9a-f]+$/, '-0000000000000000');
    expect((await svc.fetch(`/v1/direct-uploads/${guessed}`, { method: 'DELETE' })).status).toBe(404);
    expect((await left(ticket)).uploads).toHaveLength(1);
    expect((await svc.fetch(`/v1/direct-uploads/${ticket.id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('direct upload with local storage', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false });
  });
  afterAll(async () => svc?.close());

  it('says it needs S3', async () => {
    const res = await svc.fetch('/v1/libraries/default/direct-uploads', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fileName: 'a', size: 1, sha256: 'a'.repeat(64) }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/need STORAGE_DRIVER=s3/);
  });
});
