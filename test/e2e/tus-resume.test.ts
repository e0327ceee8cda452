// Resumable uploads as a real deployment sees them: two API processes and a worker
// process on one Redis and one store, the real tus-js-client (Node). A 200 MiB upload
// is cut off at about half on one API and finished through the other, byte for byte;
// a file that cannot be processed is reported to the client that uploaded it.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../shared/embedded-redis.js';
import { makeJpeg } from '../harness/images.js';
import { runEntry, type Proc } from '../harness/process.js';
import { storageKinds } from '../harness/service.js';

const KEY = 'tus-e2e-test-key-0123456789';
const MiB = 1024 * 1024;
const SIZE = 200 * MiB;

describe.each(storageKinds())('tus across two API processes (%s)', (storage) => {
  const procs: Proc[] = [];
  let dataDir: string | undefined;
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<string[]> {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-tus-e2e-'));
    const s3 = inject('s3')!;
    const id = randomBytes(4).toString('hex');
    const common: Record<string, string> = {
      DATA_DIR: dataDir,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: `tus${id}`,
      API_KEYS: KEY,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '0',
      SHUTDOWN_TIMEOUT_MS: '2000',
      WORKER_CONCURRENCY: '1',
      WORKER_METRICS_PORT: '0',
      EXIFTOOL_MAX_PROCS: '1',
      MALLOC_ARENA_MAX: '2',
      ...(storage === 's3'
        ? {
            STORAGE_DRIVER: 's3',
            S3_ENDPOINT: s3.endpoint,
            S3_ACCESS_KEY: s3.accessKey,
            S3_SECRET_KEY: s3.secretKey,
            S3_BUCKET: `tus-e2e-${id}`,
          }
        : {}),
    };
    const ports = [await freePort(), await freePort()];
    const apis = ports.map((port) => runEntry('api/main.ts', { ...common, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }));
    const worker = runEntry('worker/main.ts', { ...common, LOG_LEVEL: 'info' });
    procs.push(...apis, worker);
    await Promise.all([...apis.map((a) => a.waitFor(/api listening/, 60_000)), worker.waitFor(/worker started/, 60_000)]);
    return ports.map((p) => `http://127.0.0.1:${p}`);
  }

  function upload(data: Buffer, opts: Partial<tus.UploadOptions>): { up: tus.Upload; done: Promise<tus.HttpResponse> } {
    let up!: tus.Upload;
    const done = new Promise<tus.HttpResponse>((resolve, reject) => {
      up = new tus.Upload(data, {
        headers: { Authorization: `Bearer ${KEY}` },
        retryDelays: [200, 1000, 2000],
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
        ...opts,
      });
    });
    up.start();
    return { up, done };
  }

  it(
    'a 200 MiB upload cut off at ~50 % on one API is finished through the other, byte-exact; a failure reaches the client',
    { timeout: 600_000 },
    async () => {
      const [a, b] = await start();
      const data = randomBytes(SIZE);
      const sha = createHash('sha256').update(data).digest('hex');

      // On API A, until about half has been sent; then the connection is cut.
      let url: string | undefined;
      const first = upload(data, {
        endpoint: `${a}/v1/libraries/default/tus`,
        metadata: { filename: 'film.bin', title: 'Half here, half there' },
        retryDelays: null,
        onProgress: (sent) => {
          if (!url && sent >= SIZE / 2 && first.up.url) {
            url = first.up.url;
            void first.up.abort();
          }
        },
      });
      first.done.catch(() => undefined);
      for (let i = 0; i < 1200 && !url; i++) await new Promise((r) => setTimeout(r, 100));
      expect(url, 'the first half was sent').toBeDefined();
      expect(url!.startsWith(a!)).toBe(true);

      // API B finds the upload by its path alone (the state is in Redis) and tells the offset A stored.
      const pathname = new URL(url!).pathname;
      let offset = 0;
      for (let i = 0; i < 100 && offset === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const head = await fetch(`${b}${pathname}`, {
          method: 'HEAD',
          headers: { authorization: `Bearer ${KEY}`, 'tus-resumable': '1.0.0' },
        });
        expect(head.status).toBe(200);
        offset = Number(head.headers.get('upload-offset'));
      }
      expect(offset).toBeGreaterThan(SIZE * 0.3);
      expect(offset).toBeLessThan(SIZE);

      const second = upload(data, {
        endpoint: `${b}/v1/libraries/default/tus`,
        uploadUrl: `${b}${pathname}`,
        headers: { Authorization: `Bearer ${KEY}`, Prefer: 'wait=60' },
      });
      const last = await second.done;
      expect(last.getStatus()).toBe(204);
      const id = Number(last.getHeader('X-Resource-Id'));
      expect(id).toBeGreaterThan(0);
      expect(last.getHeader('X-Resource-Status')).toBe('ready');

      const rec = (await (await fetch(`${a}/v1/resources/${id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as Record<
        string,
        unknown
      >;
      expect(rec).toMatchObject({
        status: 'ready',
        size: SIZE,
        checksum: sha,
        fileName: 'film.bin',
        title: 'Half here, half there',
        source: 'tus',
      });
      // Byte-exact: what the store serves back is what was sent.
      const original = await fetch(`${a}/image/0x0/${id}.bin`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(original.status).toBe(200);
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of original.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        n += chunk.length;
      }
      expect(n).toBe(SIZE);
      expect(hash.digest('hex')).toBe(sha);

      // A file the worker cannot decode: the waiting last PATCH answers 422 with the reason,
      // and HEAD on the other API says so too.
      const whole = await makeJpeg(640, 480);
      const cut = whole.subarray(0, Math.floor(whole.length / 2));
      const failing = upload(cut, {
        endpoint: `${a}/v1/libraries/default/tus`,
        metadata: { filename: 'cut.jpg' },
        headers: { Authorization: `Bearer ${KEY}`, Prefer: 'wait=60' },
      });
      const err = (await failing.done.then(
        () => undefined,
        (e: unknown) => e,
      )) as tus.DetailedError | undefined;
      expect(err?.originalResponse?.getStatus()).toBe(422);
      expect((JSON.parse(err!.originalResponse!.getBody()) as { detail: string }).detail).toMatch(/could not be decoded/);
      const head = await fetch(`${b}${new URL(failing.up.url!).pathname}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${KEY}`, 'tus-resumable': '1.0.0' },
      });
      expect(head.headers.get('x-resource-status')).toBe('failed');
      expect(head.headers.get('x-resource-error-code')).toBe('unreadable_file');
      expect(head.headers.get('x-resource-error')).toMatch(/could not be decoded/);
    },
  );
});
