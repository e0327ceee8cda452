import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Client } from 'minio';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { S3StorageConfig } from '../../shared/config.js';
import { StorageUnavailableError } from '../../shared/errors.js';
import { FsObjectStore } from '../../shared/storage/fs-store.js';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../shared/storage/object-store.js';
import { S3ObjectStore } from '../../shared/storage/s3-store.js';
import { freePort } from '../harness/free-port.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

interface Fixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T = ObjectInfo>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const o of it) out.push(o);
  return out;
}

/** `data` as a stream of odd-sized chunks, so chunk edges never line up with part edges. */
function chunked(data: Buffer, size = 100_003): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
    })(),
  );
}

/** `bytes` of data, then `err`, the way a client abort or a size limit ends a body. */
function failingAfter(bytes: number, err: Error): Readable {
  return Readable.from(
    (async function* () {
      const chunk = randomBytes(64 * 1024);
      for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk;
      throw err;
    })(),
  );
}

/** An endless stream that aborts `controller` once `bytes` have been read from it. */
function abortingAfter(bytes: number, controller: AbortController): Readable {
  return Readable.from(
    (async function* () {
      const chunk = randomBytes(64 * 1024);
      for (let sent = 0; ; sent += chunk.length) {
        if (sent >= bytes) controller.abort();
        yield chunk;
      }
    })(),
  );
}

/** The run's S3 gateway; the S3 suites are skipped without it (s3Missing says why). */
const s3 = inject('s3');

function s3Config(bucket: string, endpoint = s3?.endpoint ?? ''): S3StorageConfig {
  const { accessKey, secretKey } = s3 ?? { accessKey: '', secretKey: '' };
  const u = new URL(endpoint);
  return {
    driver: 's3',
    endPoint: u.hostname,
    port: Number(u.port),
    useSSL: false,
    accessKey,
    secretKey,
    bucket,
    region: 'us-east-1',
    partSize: PART,
    multipartMaxAgeSeconds: 86_400,
  };
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Bytes of Buffers still reachable: collected first, so garbage does not count. */
function liveArrayBuffers(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

const randomBucket = () => `contract-${randomBytes(6).toString('hex')}`;

/** Nothing left under `prefix`: no object, and (S3) no incomplete multipart upload holding parts. */
async function expectNothingUnder(store: ObjectStore, prefix: string): Promise<void> {
  expect(await collect(store.list(prefix))).toEqual([]);
  if (store.incompleteUploads) expect(await collect(store.incompleteUploads(prefix))).toEqual([]);
}

function describeObjectStore(name: string, makeStore: () => Promise<Fixture>, skip = ''): void {
  describe.skipIf(skip)(`ObjectStore contract: ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let fixture: Fixture | undefined;
    let store: ObjectStore;
    let n = 0;
    /** Each test works under its own prefix, so list assertions see only its keys. */
    let p: string;

    beforeAll(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });
    beforeEach(() => {
      p = `t${++n}/`;
    });

    it('round-trips a Buffer and a stream byte for byte, with the size in head', async () => {
      const small = randomBytes(1234);
      const medium = randomBytes(PART - 1);
      await expect(store.put(`${p}buf`, small)).resolves.toEqual({ key: `${p}buf`, size: small.length });
      await expect(store.put(`${p}stream`, chunked(medium))).resolves.toEqual({ key: `${p}stream`, size: medium.length });
      await expect(store.put(`${p}empty`, Buffer.alloc(0))).resolves.toEqual({ key: `${p}empty`, size: 0 });

      expect(sha256(await readAll(await store.get(`${p}buf`)))).toBe(sha256(small));
      expect(sha256(await readAll(await store.get(`${p}stream`)))).toBe(sha256(medium));
      expect((await readAll(await store.get(`${p}empty`))).length).toBe(0);
      expect((await store.head(`${p}buf`)).size).toBe(small.length);
      expect((await store.head(`${p}stream`)).size).toBe(medium.length);
      expect(await store.head(`${p}empty`)).toMatchObject({ key: `${p}empty`, size: 0 });
    });

    it('round-trips a stream of several parts exactly, and ranges across part edges', async () => {
      const data = randomBytes(2 * PART + 2 * MiB + 12_345);
      await expect(store.put(`${p}big`, chunked(data))).resolves.toEqual({ key: `${p}big`, size: data.length });
      expect((await store.head(`${p}big`)).size).toBe(data.length);
      expect(sha256(await readAll(await store.get(`${p}big`)))).toBe(sha256(data));
      const slice = await readAll(await store.get(`${p}big`, { start: PART - 3, end: PART + 3 }));
      expect(slice.equals(data.subarray(PART - 3, PART + 4))).toBe(true);
    });

    it('round-trips a Buffer larger than one part, and one of exactly one part', async () => {
      const large = randomBytes(PART + 17);
      const exact = randomBytes(PART);
      await store.put(`${p}large`, large);
      await store.put(`${p}exact`, chunked(exact, 1 << 20));
      expect(sha256(await readAll(await store.get(`${p}large`)))).toBe(sha256(large));
      expect(sha256(await readAll(await store.get(`${p}exact`)))).toBe(sha256(exact));
      expect((await store.head(`${p}exact`)).size).toBe(PART);
    });

    it.each([
      ['before the first part fills', 1024],
      ['after a part was uploaded', PART + 2 * MiB],
    ])('rejects with the source error %s and leaves nothing behind', async (_, bytes) => {
      const err = new Error('client went away');
      await expect(store.put(`${p}broken`, failingAfter(bytes, err))).rejects.toBe(err);
      await expect(store.head(`${p}broken`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expectNothingUnder(store, p);
    });

    it('keeps the previous object when a put over it fails', async () => {
      const old = randomBytes(100);
      await store.put(`${p}k`, old);
      const err = new Error('too large');
      await expect(store.put(`${p}k`, failingAfter(PART + MiB, err))).rejects.toBe(err);
      expect(sha256(await readAll(await store.get(`${p}k`)))).toBe(sha256(old));
      if (store.incompleteUploads) expect(await collect(store.incompleteUploads(p))).toEqual([]);
    });

    it('abandons the write when the signal aborts mid-stream', async () => {
      const controller = new AbortController();
      const put = store.put(`${p}aborted`, abortingAfter(PART + MiB, controller), { signal: controller.signal });
      await expect(put).rejects.toMatchObject({ name: 'AbortError' });
      expect(controller.signal.aborted).toBe(true);
      await expect(store.head(`${p}aborted`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expectNothingUnder(store, p);
    });

    it('rejects at once when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(store.put(`${p}pre`, chunked(randomBytes(1000)), { signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      await expect(store.head(`${p}pre`)).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('replaces an object on overwrite', async () => {
      const first = randomBytes(PART + 100);
      const second = randomBytes(300);
      await store.put(`${p}k`, chunked(first));
      await store.put(`${p}k`, second);
      expect(sha256(await readAll(await store.get(`${p}k`)))).toBe(sha256(second));
      expect((await store.head(`${p}k`)).size).toBe(second.length);
      expect((await collect(store.list(p))).map((o) => o.key)).toEqual([`${p}k`]);
    });

    it('returns exactly the inclusive byte range', async () => {
      const data = randomBytes(1000);
      await store.put(`${p}r`, data);
      const range = async (start: number, end: number) => readAll(await store.get(`${p}r`, { start, end }));
      expect((await range(10, 19)).equals(data.subarray(10, 20))).toBe(true);
      expect((await range(0, 0)).equals(data.subarray(0, 1))).toBe(true);
      expect((await range(999, 999)).equals(data.subarray(999))).toBe(true);
      expect((await range(0, 999)).equals(data)).toBe(true);
      // Past the end: cut at the end, or nothing when the range starts beyond it.
      expect((await range(990, 5000)).equals(data.subarray(990))).toBe(true);
      expect((await range(1000, 1005)).length).toBe(0);
    });

    it('throws ObjectNotFoundError for head and get of a missing key', async () => {
      await expect(store.head(`${p}missing`)).rejects.toSatisfy((e) => e instanceof ObjectNotFoundError && e.key === `${p}missing`);
      await expect(store.get(`${p}missing`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.get(`${p}missing`, { start: 0, end: 9 })).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('deletes, and deleting again or deleting what never was is not an error', async () => {
      await store.put(`${p}d/x`, randomBytes(10));
      await store.put(`${p}keep`, randomBytes(10));
      await store.delete(`${p}d/x`);
      await expect(store.head(`${p}d/x`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.delete(`${p}d/x`)).resolves.toBeUndefined();
      await expect(store.delete(`${p}never/was`)).resolves.toBeUndefined();
      expect((await collect(store.list(p))).map((o) => o.key)).toEqual([`${p}keep`]);
    });

    it('lists only keys under the prefix, in key order, with sizes', async () => {
      const keys = ['a/1/x', 'a/10/x', 'a/1/z/w', 'a/2', 'a/1/y', 'b', 'a1'];
      for (const [i, k] of keys.entries()) await store.put(`${p}${k}`, randomBytes(i + 1));
      const list = async (prefix: string) => (await collect(store.list(`${p}${prefix}`))).map((o) => o.key.slice(p.length));

      expect(await list('a/1/')).toEqual(['a/1/x', 'a/1/y', 'a/1/z/w']);
      expect(await list('a/1')).toEqual(['a/1/x', 'a/1/y', 'a/1/z/w', 'a/10/x']);
      expect(await list('a/')).toEqual(['a/1/x', 'a/1/y', 'a/1/z/w', 'a/10/x', 'a/2']);
      expect(await list('')).toEqual(['a/1/x', 'a/1/y', 'a/1/z/w', 'a/10/x', 'a/2', 'a1', 'b']);
      expect(await list('a/3/')).toEqual([]);
      expect(await list('c')).toEqual([]);

      const infos = await collect(store.list(`${p}a/1/`));
      expect(infos.map((o) => o.size)).toEqual([1, 5, 3]);
      for (const o of infos) expect(o.lastModified).toBeInstanceOf(Date);
    });

    it('names the folders right under a prefix, once each, in key order', async () => {
      for (const k of ['r/0a1/5/x', 'r/0a1/5/y', 'r/0a1/9/x', 'r/00f/3/x', 'r/00f-x/1', 'r/top', 'q/1/x'])
        await store.put(`${p}${k}`, Buffer.from('x'));
      const folders = async (prefix: string) => (await collect(store.folders(`${p}${prefix}`))).map((f) => f.slice(p.length));
      expect(await folders('r/')).toEqual(['r/00f-x/', 'r/00f/', 'r/0a1/']);
      expect(await folders('r/0a1/')).toEqual(['r/0a1/5/', 'r/0a1/9/']);
      expect(await folders('r/0a1/5/')).toEqual([]);
      expect(await folders('none/')).toEqual([]);
    });

    it.each(['../x', '/abs', 'a//b', 'a/./b', 'a/', ''])('rejects the invalid key %j', async (key) => {
      await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(/Invalid object key/);
      await expect(store.get(key)).rejects.toThrow(/Invalid object key/);
      await expect(store.head(key)).rejects.toThrow(/Invalid object key/);
      await expect(store.delete(key)).rejects.toThrow(/Invalid object key/);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

describeObjectStore('fs', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-contract-'));
  return { store: new FsObjectStore(root), cleanup: () => fs.rm(root, { recursive: true, force: true }) };
});

describeObjectStore(
  's3 (Ceph radosgw)',
  async () => {
    const store = new S3ObjectStore(s3Config(randomBucket()));
    await store.ensureBucket();
    return { store, cleanup: () => emptyBucket(store) };
  },
  inject('s3Missing'),
);

/** The gateway keeps objects in memory for the whole run: give back what a suite stored. */
async function emptyBucket(store: ObjectStore): Promise<void> {
  for (const o of await collect(store.list(''))) await store.delete(o.key);
}

describe.skipIf(inject('s3Missing'))('S3ObjectStore specifics', () => {
  let store: S3ObjectStore;
  let n = 0;
  const key = (name: string) => `s3-${++n}/${name}`;

  beforeAll(async () => {
    store = new S3ObjectStore(s3Config(randomBucket()));
    await store.ensureBucket();
  });
  afterAll(async () => {
    if (store) await emptyBucket(store);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('lists incomplete multipart uploads under a prefix with their start, and aborts them for good', async () => {
    const client = new Client({
      endPoint: '127.0.0.1',
      port: Number(new URL(s3!.endpoint).port),
      useSSL: false,
      accessKey: s3!.accessKey,
      secretKey: s3!.secretKey,
      region: 'us-east-1',
    });
    const prefix = key('mp/');
    const [a, b, other] = [`${prefix}a`, `${prefix}b`, key('elsewhere')];
    const started = Date.now();
    const ids = [
      await client.initiateNewMultipartUpload(store.bucket, a, {}),
      await client.initiateNewMultipartUpload(store.bucket, b, {}),
    ];
    await client.uploadPart({ bucketName: store.bucket, objectName: a, uploadID: ids[0]!, partNumber: 1, headers: {} }, randomBytes(PART));
    const otherId = await client.initiateNewMultipartUpload(store.bucket, other, {});

    const listed = await collect(store.incompleteUploads(prefix));
    expect(listed.map((u) => [u.key, u.uploadId])).toEqual([
      [a, ids[0]],
      [b, ids[1]],
    ]);
    // Dated by the server's clock, to the second.
    for (const u of listed) expect(Math.abs(u.initiated.getTime() - started)).toBeLessThan(60_000);
    // Nothing of them is an object yet.
    expect(await collect(store.list(prefix))).toEqual([]);

    for (const u of listed) await store.abortUpload(u);
    expect(await collect(store.incompleteUploads(prefix))).toEqual([]);
    // Aborting what is already gone is not an error; the other prefix is untouched.
    await expect(store.abortUpload(listed[0]!)).resolves.toBeUndefined();
    expect((await collect(store.incompleteUploads(other))).map((u) => u.uploadId)).toEqual([otherId]);
    await store.abortUpload({ key: other, uploadId: otherId, initiated: new Date() });
  });

  it('uploads a long stream as explicit multipart in parts of partSize, never a streaming putObject', async () => {
    const putObject = vi.spyOn(Client.prototype, 'putObject');
    const uploadPart = vi.spyOn(Client.prototype, 'uploadPart');
    const findUploadId = vi.spyOn(Client.prototype, 'findUploadId');
    const data = randomBytes(2 * PART + MiB);
    await store.put(key('mp'), chunked(data));
    expect(putObject).not.toHaveBeenCalled();
    expect(findUploadId).not.toHaveBeenCalled();
    expect(uploadPart.mock.calls.map(([cfg, body]) => [cfg.partNumber, (body as Buffer).length])).toEqual([
      [1, PART],
      [2, PART],
      [3, MiB],
    ]);
  });

  it('uploads a short stream with one putObject of a Buffer', async () => {
    const putObject = vi.spyOn(Client.prototype, 'putObject');
    const uploadPart = vi.spyOn(Client.prototype, 'uploadPart');
    await store.put(key('single'), chunked(randomBytes(1000), 7));
    expect(uploadPart).not.toHaveBeenCalled();
    expect(putObject).toHaveBeenCalledTimes(1);
    expect(Buffer.isBuffer(putObject.mock.calls[0]?.[2])).toBe(true);
  });

  it('stores the content type on single and multipart puts', async () => {
    const [a, b] = [key('a.txt'), key('b.jpg')];
    await store.put(a, Buffer.from('hello'), { contentType: 'text/plain' });
    await store.put(b, chunked(randomBytes(PART + 1)), { contentType: 'image/jpeg' });
    expect((await store.head(a)).contentType).toBe('text/plain');
    expect((await store.head(b)).contentType).toBe('image/jpeg');
  });

  it('has no local path', () => {
    expect(store.localPath()).toBeUndefined();
  });

  it('creates its bucket idempotently, also when two processes race to create it', async () => {
    const fresh = new S3ObjectStore(s3Config(randomBucket()));
    await expect(fresh.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
    await Promise.all([fresh.ensureBucket(), fresh.ensureBucket(), new S3ObjectStore(s3Config(fresh.bucket)).ensureBucket()]);
    await fresh.ensureBucket();
    await expect(fresh.ping()).resolves.toBeUndefined();
  });

  it('holds about two parts in memory while storing 64 MiB', async () => {
    const total = 64 * MiB;
    const chunk = randomBytes(64 * 1024);
    const source = Readable.from(
      (function* () {
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      })(),
    );
    // Collect before each sample so the delta is memory the put holds on to, not parts
    // it already let go of that V8 has not collected yet.
    const base = liveArrayBuffers();
    let peak = base;
    const sample = () => {
      peak = Math.max(peak, liveArrayBuffers());
    };
    const timer = setInterval(sample, 10);
    const k = key('64m');
    try {
      await expect(store.put(k, source)).resolves.toMatchObject({ size: total });
    } finally {
      clearInterval(timer);
    }
    sample();
    // One part uploading, one filling in place: 10 MiB. Far below the 64 MiB that
    // buffering the body, or uploading all its parts at once, would hold.
    expect(peak - base).toBeLessThan(16 * MiB);
    expect((await store.head(k)).size).toBe(total);
  });

  it('reports a closed port as StorageUnavailableError', async () => {
    const port = await freePort();
    const down = new S3ObjectStore(s3Config('down', `http://127.0.0.1:${port}`));
    await expect(down.put('k', Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(down.put('k', chunked(randomBytes(PART + 1)))).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(down.head('k')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(down.get('k')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(down.ping()).rejects.toSatisfy((e) => e instanceof StorageUnavailableError && e.code === 'storage_unavailable');
    await expect(collect(down.list(''))).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('gives up on a gateway that takes the request and never answers: StorageUnavailableError, not a hang', async () => {
    // minio-js has no timeout of its own: a job waiting on such a request kept its lock alive forever.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const mute = new S3ObjectStore(s3Config('mute', `http://127.0.0.1:${port}`), { idleTimeoutMs: 300 });
    try {
      await expect(mute.head('k')).rejects.toSatisfy(
        (e) => e instanceof StorageUnavailableError && /No answer from S3 for 300 ms/.test(e.message),
      );
      await expect(mute.put('k', Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
