// Resumable uploads (tus 1.0) on both stores, through the real tus-js-client and raw
// requests for what a well-behaved client never sends.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { startApi, type RunningApi } from '../../api/server.js';
import { createLogger } from '../../shared/logger.js';
import { PARTS_IN_MEMORY, type S3ObjectStore } from '../../shared/storage/s3-store.js';
import { makeJpeg } from '../harness/images.js';
import { startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';

// Megabytes through two replicas on a machine shared with other work: room beyond the default 30 s.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const MiB = 1024 * 1024;
const V = { 'tus-resumable': '1.0.0' };

const b64 = (s: string) => Buffer.from(s).toString('base64');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Done {
  url: string;
  last: tus.HttpResponse;
}

/** One tus-js-client upload to `base`; resolves on success, rejects with the client's error. */
function tusUpload(svc: TestService, data: Buffer, opts: Partial<tus.UploadOptions> & { base?: string } = {}): Promise<Done> {
  const { base = svc.url, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const up: tus.Upload = new tus.Upload(data, {
      endpoint: `${base}/v1/libraries/default/tus`,
      headers: { Authorization: `Bearer ${svc.key}` },
      metadata: { filename: 'photo.jpg', filetype: 'image/jpeg' },
      retryDelays: [100, 500, 1000],
      onSuccess: ({ lastResponse }) => resolve({ url: up.url!, last: lastResponse }),
      onError: reject,
      ...rest,
    });
    up.start();
  });
}

/** HEAD/PATCH/… against a tus URL with the key and Tus-Resumable. */
function tusFetch(svc: TestService, url: string, init: RequestInit = {}): Promise<Response> {
  const u = url.startsWith('http') ? new URL(url).pathname : url;
  return svc.fetch(u, { ...init, headers: { ...V, ...(init.headers as Record<string, string>) } });
}

async function create(svc: TestService, length: number, metadata = `filename ${b64('a.bin')}`): Promise<string> {
  const res = await svc.fetch('/v1/libraries/default/tus', {
    method: 'POST',
    headers: { ...V, 'upload-length': String(length), 'upload-metadata': metadata },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.headers.get('location')!;
}

function patch(svc: TestService, url: string, offset: number, body: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return tusFetch(svc, url, {
    method: 'PATCH',
    headers: { 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...headers },
    body: new Uint8Array(body),
  });
}

async function offsetOf(svc: TestService, url: string): Promise<number> {
  const res = await tusFetch(svc, url, { method: 'HEAD' });
  expect(res.status).toBe(200);
  return Number(res.headers.get('upload-offset'));
}

/** Keys in storage that belong to unfinished uploads (fs: the data file; s3: tail objects). */
async function tusLeftovers(svc: TestService): Promise<string[]> {
  return (await svc.allObjects()).filter((k) => k.startsWith('tus/'));
}

describe.each<StorageKind>(storageKinds())('tus on %s', (storage) => {
  let svc: TestService;
  let second: RunningApi;
  beforeAll(async () => {
    svc = await startService(storage, { env: { RATE_LIMIT_PER_MINUTE: '0', MAX_UPLOAD_BYTES: String(64 * MiB) } });
    // A second API replica on the same Redis and store: no sticky sessions.
    second = await startApi(svc.config, svc.core, inject('redisUrl'), createLogger('silent', 'test'));
  });
  afterAll(async () => {
    await second?.close();
    await svc?.close();
  });

  it('OPTIONS advertises the extensions, sha256 and Tus-Max-Size (the global limit)', async () => {
    const res = await svc.fetch('/v1/libraries/default/tus', { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(res.headers.get('tus-extension')!.split(',')).toEqual([
      'creation',
      'creation-with-upload',
      'termination',
      'expiration',
      'checksum',
    ]);
    expect(res.headers.get('tus-checksum-algorithm')).toBe('sha256');
    expect(res.headers.get('tus-max-size')).toBe(String(64 * MiB));
    expect((await fetch(`${svc.url}/v1/libraries/default/tus`, { method: 'OPTIONS' })).status).toBe(401);
  });

  it('takes an image in many PATCHes with tus-js-client; it becomes a resource, told by the last answer and HEAD', async () => {
    const jpeg = await makeJpeg(1200, 900);
    // Padding after the JPEG's end makes it several S3 parts; decoders stop at EOI.
    const data = Buffer.concat([jpeg, randomBytes(11 * MiB)]);
    const done = await tusUpload(svc, data, {
      chunkSize: 3 * MiB + 17,
      metadata: { filename: 'photo.jpg', filetype: 'image/jpeg', title: 'Sunset', tags: 'tus,evening', no_exif: '1', visibility: 'public' },
    });
    const id = Number(done.last.getHeader('X-Resource-Id'));
    expect(id).toBeGreaterThan(0);
    expect(done.last.getHeader('Link')).toMatch(/^<\/v1\/jobs\/[^>]+>; rel="job"/);
    const jobPath = /^<([^>]+)>/.exec(done.last.getHeader('Link')!)![1]!;
    expect((await svc.fetch(`${jobPath}/wait?timeout=30`)).status).toBe(204);

    const head = await tusFetch(svc, done.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(data.length));
    expect(head.headers.get('x-resource-id')).toBe(String(id));
    expect(head.headers.get('x-resource-status')).toBe('ready');
    const rec = (await (await svc.fetch(`/v1/resources/${id}`)).json()) as Record<string, unknown>;
    // Metadata keys other than filename, filetype, title, tags and no_exif are ignored (visibility).
    expect(rec).toMatchObject({
      status: 'ready',
      source: 'tus',
      fileName: 'photo.jpg',
      title: 'Sunset',
      tags: ['tus', 'evening'],
      noExif: true,
      visibility: 'private',
      size: data.length,
      checksum: sha256(data),
      mimeType: 'image/jpeg',
      type: 'image',
      width: 1200,
      height: 900,
    });
    const original = await svc.fetch(`/image/0x0/${id}.jpg`);
    expect(sha256(Buffer.from(await original.arrayBuffer()))).toBe(sha256(data));
    expect(await tusLeftovers(svc)).toEqual([]);
  });

  it('creation-with-upload: the POST carries the first bytes', async () => {
    const data = randomBytes(2 * MiB + 5);
    const done = await tusUpload(svc, data, { uploadDataDuringCreation: true, chunkSize: MiB, metadata: { filename: 'blob.bin' } });
    const id = Number(done.last.getHeader('X-Resource-Id'));
    const rec = (await (await svc.fetch(`/v1/resources/${id}?wait=30`)).json()) as Record<string, unknown>;
    expect(rec).toMatchObject({ checksum: sha256(data), size: data.length, fileName: 'blob.bin' });
  });

  it('resumes on another replica: aborted at about half, continued through the second API, byte-exact', async () => {
    const data = randomBytes(12 * MiB + 333);
    const url = await new Promise<string>((resolve, reject) => {
      const up: tus.Upload = new tus.Upload(data, {
        endpoint: `${svc.url}/v1/libraries/default/tus`,
        headers: { Authorization: `Bearer ${svc.key}` },
        metadata: { filename: 'half.bin' },
        retryDelays: null,
        onProgress: (sent) => {
          if (sent >= data.length / 2 && up.url) {
            void up.abort().then(() => resolve(up.url!));
          }
        },
        onSuccess: () => reject(new Error('finished before the abort')),
        onError: reject,
      });
      up.start();
    });
    // The first replica commits what arrived once it sees the connection go.
    let stored = 0;
    for (let i = 0; i < 50 && stored === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stored = await offsetOf(svc, url);
    }
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(data.length);
    const onSecond = `${second.url}${new URL(url).pathname}`;
    const done = await tusUpload(svc, data, { uploadUrl: onSecond, base: second.url });
    const id = Number(done.last.getHeader('X-Resource-Id'));
    const rec = (await (await svc.fetch(`/v1/resources/${id}?wait=30`)).json()) as Record<string, unknown>;
    expect(rec).toMatchObject({ size: data.length, checksum: sha256(data), fileName: 'half.bin' });
    const original = await svc.fetch(`/image/0x0/${id}.bin`);
    expect(Buffer.from(await original.arrayBuffer()).equals(data)).toBe(true);
  });

  it('tells the client a processing failure: 422 with the reason on the waiting last PATCH, and on HEAD', async () => {
    const whole = await makeJpeg(400, 300);
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    const err = await tusUpload(svc, cut, {
      headers: { Authorization: `Bearer ${svc.key}`, Prefer: 'wait=30' },
      metadata: { filename: 'cut.jpg' },
    }).then(
      () => undefined,
      (e: unknown) => e as tus.DetailedError,
    );
    expect(err, 'the upload must fail for the client').toBeDefined();
    const res = err!.originalResponse!;
    expect(res.getStatus()).toBe(422);
    expect(JSON.parse(res.getBody()).detail).toMatch(/could not be decoded/);
    const id = res.getHeader('X-Resource-Id');
    const url = `/v1/libraries/default/tus/${/tus\/([^/]+)$/.exec(new URL(err!.originalRequest!.getURL()).pathname)![1]}`;
    const head = await tusFetch(svc, url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-resource-id')).toBe(id);
    expect(head.headers.get('x-resource-status')).toBe('failed');
    expect(head.headers.get('x-resource-error-code')).toBe('unreadable_file');
    expect(head.headers.get('x-resource-error')).toMatch(/could not be decoded/);
  });

  it('checksum extension: a matching Upload-Checksum is kept, a wrong one answers 460 and keeps nothing', async () => {
    const data = randomBytes(300_000);
    const url = await create(svc, data.length);
    const first = data.subarray(0, 100_000);
    const ok = await patch(svc, url, 0, first, { 'upload-checksum': `sha256 ${createHash('sha256').update(first).digest('base64')}` });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('upload-offset')).toBe('100000');
    const bad = await patch(svc, url, 100_000, data.subarray(100_000, 200_000), {
      'upload-checksum': `sha256 ${createHash('sha256').update('other').digest('base64')}`,
    });
    expect(bad.status).toBe(460);
    expect((await bad.json()).detail).toMatch(/Upload-Checksum said/);
    expect(await offsetOf(svc, url)).toBe(100_000);
    expect((await patch(svc, url, 100_000, data.subarray(100_000), { 'upload-checksum': 'md5 AAAA' })).status).toBe(400);
    const rest = await patch(svc, url, 100_000, data.subarray(100_000));
    expect(rest.status).toBe(204);
    const id = Number(rest.headers.get('x-resource-id'));
    const rec = (await (await svc.fetch(`/v1/resources/${id}?wait=30`)).json()) as Record<string, unknown>;
    expect(rec.checksum).toBe(sha256(data));
  });

  it('refuses bad input with the status tus names', async () => {
    const url = await create(svc, 1000);
    // Wrong or missing Tus-Resumable → 412, naming the supported version.
    const wrong = await svc.fetch(new URL(url, svc.url).pathname, { method: 'HEAD', headers: { 'tus-resumable': '0.2.2' } });
    expect(wrong.status).toBe(412);
    expect(wrong.headers.get('tus-version')).toBe('1.0.0');
    const none = await svc.fetch('/v1/libraries/default/tus', { method: 'POST', headers: { 'upload-length': '10' } });
    expect(none.status).toBe(412);
    expect((await none.json()).detail).toBe('Expected Tus-Resumable: 1.0.0 but received none.');
    // Offset mismatch → 409.
    const mismatch = await patch(svc, url, 10, Buffer.alloc(10));
    expect(mismatch.status).toBe(409);
    expect((await mismatch.json()).detail).toMatch(/Upload-Offset 10 does not match the upload's offset 0/);
    // Not application/offset+octet-stream → 415.
    const type = await tusFetch(svc, url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'upload-offset': '0' },
      body: 'x',
    });
    expect(type.status).toBe(415);
    // Unknown → 404; and without a key → 401.
    expect((await tusFetch(svc, '/v1/libraries/default/tus/AAAAAAAAAAAAAAAAAAAAAA', { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(new URL(url, svc.url), { method: 'HEAD', headers: V })).status).toBe(401);
    // Another library's URL does not reach it.
    const lib = await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `other-${storage}` }),
    });
    expect(lib.status).toBe(201);
    expect((await tusFetch(svc, url.replace('/default/', `/other-${storage}/`), { method: 'HEAD' })).status).toBe(404);
    // No length → 400 with what to send.
    const noLength = await svc.fetch('/v1/libraries/default/tus', { method: 'POST', headers: V });
    expect(noLength.status).toBe(400);
  });

  it('over the size limit: 413 at creation, and mid-PATCH with nothing kept', async () => {
    const big = await svc.fetch('/v1/libraries/default/tus', { method: 'POST', headers: { ...V, 'upload-length': String(64 * MiB + 1) } });
    expect(big.status).toBe(413);
    expect((await big.json()).detail).toMatch(/maximum upload size of 64 MiB/);

    const url = await create(svc, 6 * MiB);
    expect((await patch(svc, url, 0, randomBytes(3 * MiB))).status).toBe(204);
    // More bytes than the upload declared: refused, and the upload is gone with its bytes.
    const over = await patch(svc, url, 3 * MiB, randomBytes(4 * MiB));
    expect(over.status).toBe(413);
    expect((await over.json()).detail).toBe(
      `Expected at most ${3 * MiB} bytes from Upload-Offset ${3 * MiB} (Upload-Length ${6 * MiB}) but the request brings ${4 * MiB}; the upload was discarded, start a new one.`,
    );
    expect((await tusFetch(svc, url, { method: 'HEAD' })).status).toBe(404);
    expect(await tusLeftovers(svc)).toEqual([]);

    // The same through a chunked body (no Content-Length): counted as it arrives.
    const url2 = await create(svc, 100_000);
    const res = await rawChunkedPatch(svc, url2, 0, [randomBytes(60_000), randomBytes(60_000)]);
    expect(res).toBe(413);
    expect((await tusFetch(svc, url2, { method: 'HEAD' })).status).toBe(404);
    expect(await tusLeftovers(svc)).toEqual([]);
  });

  it.skipIf(storage !== 's3')(
    "s3: part buffers come from the store's shared budget; with all of it taken a PATCH waits, then finishes",
    async () => {
      const store = svc.core.store as S3ObjectStore;
      // Everything the process may hold (PARTS_IN_MEMORY), as if other uploads had it.
      const held: Buffer[] = [];
      for (let i = 0; i < PARTS_IN_MEMORY; i++) held.push(await store.takePartBuffer());
      const data = randomBytes(6 * MiB);
      const url = await create(svc, data.length);
      let answered = false;
      const pending = patch(svc, url, 0, data).then((r) => {
        answered = true;
        return r.status;
      });
      // Not an assertion on time: the PATCH cannot end before a buffer is given back.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(answered).toBe(false);
      for (const b of held) store.givePartBuffer(b);
      expect(await pending).toBe(204);
      const head = await tusFetch(svc, url, { method: 'HEAD' });
      expect(head.headers.get('upload-offset')).toBe(String(data.length));
      const id = Number(head.headers.get('x-resource-id'));
      const chunks: Buffer[] = [];
      for await (const c of await svc.core.store.get((await svc.core.catalog.getResource(id))!.storageKey)) chunks.push(c as Buffer);
      const stored = Buffer.concat(chunks);
      expect(stored.equals(data)).toBe(true);
      // Every buffer went back: the whole budget can be taken again at once.
      const again = await Promise.all(Array.from({ length: PARTS_IN_MEMORY }, () => store.takePartBuffer()));
      for (const b of again) store.givePartBuffer(b);
    },
  );

  it('termination: DELETE removes the bytes; the URL then answers 404', async () => {
    const url = await create(svc, 8 * MiB);
    expect((await patch(svc, url, 0, randomBytes(5 * MiB + 100))).status).toBe(204);
    expect((await tusLeftovers(svc)).length).toBeGreaterThan(0);
    expect((await tusFetch(svc, url, { method: 'DELETE' })).status).toBe(204);
    expect((await tusFetch(svc, url, { method: 'HEAD' })).status).toBe(404);
    expect(await tusLeftovers(svc)).toEqual([]);
  });

  it('two concurrent PATCHes at one offset: one wins, the other gets 409/423, the file is intact', async () => {
    const data = randomBytes(4 * MiB);
    const url = await create(svc, data.length);
    // The first PATCH trickles in; the second arrives while it (most likely) holds the lock.
    // Whichever wins, the loser must be refused and the stored bytes stay the file's.
    const slow = rawChunkedPatch(svc, url, 0, [data.subarray(0, MiB), data.subarray(MiB, 2 * MiB)], 4_000);
    await new Promise((r) => setTimeout(r, 500));
    const rival = patch(svc, url, 0, data.subarray(0, MiB)).then((r) => r.status);
    const statuses = await Promise.all([slow, rival]);
    expect(
      statuses.filter((st) => st === 204),
      `statuses ${statuses.join(', ')}`,
    ).toHaveLength(1);
    expect(
      statuses.filter((st) => st === 409 || st === 423),
      `statuses ${statuses.join(', ')}`,
    ).toHaveLength(1);
    const offset = await offsetOf(svc, url);
    expect([MiB, 2 * MiB]).toContain(offset);
    const rest = await patch(svc, url, offset, data.subarray(offset));
    expect(rest.status).toBe(204);
    const id = Number(rest.headers.get('x-resource-id'));
    const rec = (await (await svc.fetch(`/v1/resources/${id}?wait=30`)).json()) as Record<string, unknown>;
    expect(rec.checksum).toBe(sha256(data));
  });

  it('a client that goes away mid-PATCH keeps what arrived; the upload continues from the HEAD offset', async () => {
    const data = randomBytes(7 * MiB + 1);
    const url = await create(svc, data.length);
    await rawChunkedPatch(svc, url, 0, [data.subarray(0, 3 * MiB + 7)], 0, { destroyAfterMs: 1000 });
    let offset = 0;
    for (let i = 0; i < 50 && offset === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      offset = await offsetOf(svc, url);
    }
    // All that was sent, unless the cut came before the server read it all (a loaded machine).
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(3 * MiB + 7);
    const rest = await patch(svc, url, offset, data.subarray(offset));
    expect(rest.status).toBe(204);
    const id = Number(rest.headers.get('x-resource-id'));
    const rec = (await (await svc.fetch(`/v1/resources/${id}?wait=30`)).json()) as Record<string, unknown>;
    expect(rec.checksum).toBe(sha256(data));
  });
});

describe('tus expiration', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('s3', { worker: false, env: { TUS_EXPIRY_SECONDS: '1', TUS_SWEEP_INTERVAL_SECONDS: '1' } });
  });
  afterAll(async () => svc?.close());

  it('an upload left alone expires: Upload-Expires says when, the sweep removes its bytes, its URL answers 410', async () => {
    const url = await create(svc, 6 * MiB);
    const res = await patch(svc, url, 0, randomBytes(MiB));
    expect(res.status).toBe(204);
    expect(Date.parse(res.headers.get('upload-expires')!)).toBeGreaterThan(Date.now() - 2000);
    expect((await tusLeftovers(svc)).length).toBe(1);
    let status = 0;
    for (let i = 0; i < 60 && status !== 410; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await tusFetch(svc, url, { method: 'HEAD' })).status;
    }
    expect(status).toBe(410);
    for (let i = 0; i < 50 && (await tusLeftovers(svc)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await tusLeftovers(svc)).toEqual([]);
    expect((await patch(svc, url, MiB, randomBytes(10))).status).toBe(410);
  });
});

/**
 * A PATCH with a chunked body (no Content-Length), its chunks `gapMs` apart; with
 * `destroyAfterMs`, the connection is cut that long after the last chunk instead of
 * ending the body. Resolves with the status (0 when cut).
 */
function rawChunkedPatch(
  svc: TestService,
  url: string,
  offset: number,
  chunks: Buffer[],
  gapMs = 0,
  opts: { destroyAfterMs?: number } = {},
): Promise<number> {
  const target = new URL(url, svc.url);
  return new Promise((resolve, reject) => {
    const req = http.request(target, {
      method: 'PATCH',
      headers: {
        ...V,
        authorization: `Bearer ${svc.key}`,
        'content-type': 'application/offset+octet-stream',
        'upload-offset': String(offset),
        'transfer-encoding': 'chunked',
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err) =>
      opts.destroyAfterMs !== undefined
        ? resolve(0)
        : (err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET'
          ? resolve(-1)
          : reject(err),
    );
    void (async () => {
      for (const [i, c] of chunks.entries()) {
        if (i > 0 && gapMs) await new Promise((r) => setTimeout(r, gapMs));
        if (req.destroyed) return;
        req.write(c);
      }
      if (opts.destroyAfterMs !== undefined) {
        await new Promise((r) => setTimeout(r, opts.destroyAfterMs));
        req.destroy();
        resolve(0);
      } else req.end();
    })();
  });
}
