// The large-file path: presigned multipart upload straight to the S3 server (Ceph radosgw
// here), completed through the API, then the worker verifies the declared checksum.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  const start = (body: object) => svc.fetch('/v1/libraries/default/direct-uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const complete = (t: Ticket, parts: object[]) => svc.fetch(t.complete, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parts }) });

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
    const rec = (await (await svc.fetch(`/v1/resources/${ticket.resourceId}`)).json()) as { status: string; checksum: string; size: number; title: string; tags: string[]; source: string };
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
    expect(((await wait.json()) as { detail: string }).detail).toMatch(new RegExp(`^The uploaded file has SHA-256 [0-9a-f]{64} but ${declared} was declared`));
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
  });
});

describe('direct upload with local storage', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false });
  });
  afterAll(async () => svc?.close());

  it('says it needs S3', async () => {
    const res = await svc.fetch('/v1/libraries/default/direct-uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fileName: 'a', size: 1, sha256: 'a'.repeat(64) }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/need STORAGE_DRIVER=s3/);
  });
});
