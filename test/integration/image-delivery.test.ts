// GET/HEAD /image/{w}x{h}/{id}.{ext}: stored renditions, originals with Range,
// on-demand renders (coalesced, bounded by the allow-list or a signature), safe serving
// of non-images, and per-library presets.
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Worker } from 'bullmq';
import { RENDER_QUEUE } from '../../shared/jobs/render.js';
import { openQueue } from '../../shared/jobs/queue-table.js';
import { createLogger } from '../../shared/logger.js';
import { createRedis } from '../../shared/redis.js';
import { redisEndpoint } from '../../shared/config.js';
import { signedImageUrl } from '../../shared/renditions/signing.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';
import { form, s3Missing, startService, type TestService } from '../harness/service.js';
import { inspect, plainJpeg } from '../harness/render-images.js';
import { sleep, until } from '../harness/until.js';

const SECRET = 'image-url-secret-0123456789abcdef0123';

async function upload(svc: TestService, data: Uint8Array | string, name: string, fields: Record<string, string> = {}, library = 'default') {
  const res = await svc.fetch(`/v1/libraries/${library}/files?wait=30`, {
    method: 'POST',
    body: form({ ...fields, file: { name, data } }),
  });
  expect(res.status, await res.clone().text()).toBe(204);
  return Number(res.headers.get('x-resource-id'));
}

describe('image delivery', () => {
  let svc: TestService;
  let jpeg: Buffer;
  let id: number;
  let publicId: number;
  beforeAll(async () => {
    svc = await startService('fs', { env: { IMAGE_SIZES: '300x0,0x150,64x64', IMAGE_URL_SECRET: SECRET, IMAGE_CACHE_SECONDS: '600' } });
    jpeg = await plainJpeg(1200, 800);
    id = await upload(svc, jpeg, 'photo.jpg');
    publicId = await upload(svc, await plainJpeg(600, 400), 'public.jpg', { visibility: 'public' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('streams a stored rendition with ETag, Cache-Control and Content-Length; 304 on If-None-Match; HEAD has no body', async () => {
    const res = await svc.fetch(`/image/480x480/${id}.webp`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(res.headers.get('content-length')).toBe(String(body.length));
    expect(res.headers.get('cache-control')).toBe('private, max-age=600');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect((await inspect(body)).meta).toMatchObject({ width: 480, height: 320 });

    const again = await svc.fetch(`/image/480x480/${id}.webp`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect((await again.arrayBuffer()).byteLength).toBe(0);

    const head = await svc.fetch(`/image/480x480/${id}.webp`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
    expect(head.headers.get('etag')).toBe(etag);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves public resources without a key (public caching) and refuses private ones', async () => {
    const pub = await fetch(`${svc.url}/image/200x200/${publicId}.webp`);
    expect(pub.status).toBe(200);
    expect(pub.headers.get('cache-control')).toBe('public, max-age=600');
    const priv = await fetch(`${svc.url}/image/200x200/${id}.webp`);
    expect(priv.status).toBe(401);
    expect((await priv.json()).detail).toBe(`Resource ${id} is private: send "Authorization: Bearer <key>" or use a signed image URL.`);
    const badKey = await fetch(`${svc.url}/image/200x200/${publicId}.webp`, { headers: { authorization: 'Bearer wrong-key-0123456789' } });
    expect(badKey.status).toBe(401);
  });

  it('serves the original at 0x0 with its checksum as ETag, Range (206, suffix, 416) and jpg/jpeg alike', async () => {
    const res = await svc.fetch(`/image/0x0/${id}.jpg`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(jpeg)).toBe(true);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-disposition')).toBeNull();
    const rec = await (await svc.fetch(`/v1/resources/${id}`)).json();
    expect(res.headers.get('etag')).toBe(`"${rec.checksum.slice(0, 40)}"`);

    const part = await svc.fetch(`/image/0x0/${id}.jpeg`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${jpeg.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(jpeg.subarray(10, 20))).toBe(true);

    const tail = await svc.fetch(`/image/0x0/${id}.jpg`, { headers: { range: 'bytes=-5' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(jpeg.subarray(jpeg.length - 5))).toBe(true);

    const beyond = await svc.fetch(`/image/0x0/${id}.jpg`, { headers: { range: `bytes=${jpeg.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${jpeg.length}`);

    const stale = await svc.fetch(`/image/0x0/${id}.jpg`, { headers: { range: 'bytes=0-0', 'if-range': '"other"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('answers 404 with the right URL when the extension does not match the original', async () => {
    const res = await svc.fetch(`/image/0x0/${id}.png`);
    expect(res.status).toBe(404);
    expect((await res.json()).detail).toBe(`Resource ${id} is a jpg (image/jpeg); its original is /image/0x0/${id}.jpg, not ".png".`);
  });

  it('renders an allowed size on demand, keeping the aspect ratio for a 0 dimension, then serves it stored', async () => {
    const wide = await svc.fetch(`/image/300x0/${id}.webp`);
    expect(wide.status).toBe(200);
    expect((await inspect(Buffer.from(await wide.arrayBuffer()))).meta).toMatchObject({ format: 'webp', width: 300, height: 200 });
    const tall = await svc.fetch(`/image/0x150/${id}.jpg`);
    expect(tall.status).toBe(200);
    const tallBytes = Buffer.from(await tall.arrayBuffer());
    expect((await inspect(tallBytes)).meta).toMatchObject({ format: 'jpeg', width: 225, height: 150 });
    expect((await inspect(tallBytes)).meta.exif).toBeUndefined();
    const stored = (await svc.allObjects())
      .filter((k) => k.includes(`/${id}/v1/image/`))
      .map((k) => k.split('/').pop())
      .sort();
    expect(stored).toEqual(['0x150.jpg', '1024x1024.webp', '200x200.webp', '2048x2048.webp', '300x0.webp', '480x480.webp']);
    const again = await svc.fetch(`/image/0x150/${id}.jpg`);
    expect(again.headers.get('etag')).toBe(tall.headers.get('etag'));
    await again.arrayBuffer();
  });

  it('refuses a size that is neither a preset nor allowed with 400 listing what is', async () => {
    const res = await svc.fetch(`/image/301x0/${id}.webp`);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.detail).toBe(
      'The size 301x0 (webp) is not rendered on demand. Allowed sizes: 200x200, 480x480, 1024x1024, 2048x2048, 300x0, 0x150, 64x64; any size up to 4096 with a signed URL. 0x0 is the original.',
    );
    expect(body.allowed).toContain('300x0');
    expect((await svc.fetch(`/image/300x0/${id}.gif`)).status).toBe(400);
    expect((await svc.fetch(`/image/5000x0/${id}.webp`)).status).toBe(400);
    expect((await svc.fetch(`/image/abc/${id}.webp`)).status).toBe(404);
  });

  it('accepts any size with a valid signed URL, without a key, and refuses tampered or expired ones', async () => {
    const path = `/image/123x0/${id}.webp`;
    const url = signedImageUrl(path, 60, SECRET);
    const ok = await fetch(`${svc.url}${url}`);
    expect(ok.status).toBe(200);
    expect((await inspect(Buffer.from(await ok.arrayBuffer()))).meta.width).toBe(123);
    const tampered = await fetch(`${svc.url}${url.replace('123x0', '124x0')}`);
    expect(tampered.status).toBe(401);
    const expired = await fetch(`${svc.url}${signedImageUrl(path, -10, SECRET)}`);
    expect(expired.status).toBe(401);
    expect((await expired.json()).detail).toMatch(/^This signed image URL expired at /);
  });

  it('hands out signed URLs to key holders at /v1/image-url', async () => {
    const res = await svc.fetch(`/v1/image-url?path=/image/777x0/${id}.webp&ttl=120`);
    expect(res.status).toBe(200);
    const { url, expires } = await res.json();
    expect(url).toMatch(new RegExp(`^/image/777x0/${id}\\.webp\\?exp=\\d+&sig=[0-9a-f]{64}$`));
    expect(Date.parse(expires) - Date.now()).toBeGreaterThan(100_000);
    const img = await fetch(`${svc.url}${url}`);
    expect(img.status).toBe(200);
    expect((await inspect(Buffer.from(await img.arrayBuffer()))).meta.width).toBe(777);
    expect((await fetch(`${svc.url}/v1/image-url?path=/image/777x0/${id}.webp`)).status).toBe(401);
    const bad = await svc.fetch('/v1/image-url?path=/etc/passwd');
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toBe('Expected path like /image/300x0/7.webp but received "/etc/passwd".');
    expect((await svc.fetch('/v1/image-url?path=/image/10x0/99999.webp')).status).toBe(404);
  });

  it('serves non-images as attachments with a sandbox CSP, and SVG never inline', async () => {
    const textId = await upload(svc, '<html><script>alert(1)</script></html>', 'page.html');
    const svgId = await upload(
      svc,
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
      'x.svg',
    );
    for (const [rid, ext, type] of [
      [textId, 'html', 'text/html'],
      [svgId, 'svg', 'image/svg+xml'],
    ] as const) {
      const res = await svc.fetch(`/image/0x0/${rid}.${ext}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="(page\.html|x\.svg)"/);
      expect(res.headers.get('content-security-policy')).toMatch(/sandbox/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
      const sized = await svc.fetch(`/image/300x0/${rid}.webp`);
      expect(sized.status).toBe(404);
      expect((await sized.json()).detail).toBe(
        `Resource ${rid} is not an image, video or document (${type}); only its original is served, at /image/0x0/${rid}.${ext}.`,
      );
    }
  });

  it('answers a size of a failed image with its failure (422)', async () => {
    const whole = await plainJpeg(300, 200);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'cut.jpg', data: whole.subarray(0, 400) } }),
    });
    expect(res.status).toBe(422);
    const failedId = res.headers.get('x-resource-id');
    const img = await svc.fetch(`/image/300x0/${failedId}.webp`);
    expect(img.status).toBe(422);
    expect((await img.json()).detail).toMatch(/could not be decoded/);
  });

  it("pre-renders a library's own presets, and refuses unknown preset names", async () => {
    const bad = await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'badp', presets: ['nope'] }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).detail).toMatch(
      /^Expected presets to name global presets \(thumbnail, small, medium, large\) but received "nope"\./,
    );
    const created = await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shop', presets: ['thumbnail', { name: 'hero', width: 800, height: 0, format: 'jpg', quality: 70 }] }),
    });
    expect(created.status).toBe(201);
    expect((await created.json()).presets).toEqual([
      'thumbnail',
      { name: 'hero', width: 800, height: 0, fit: 'inside', format: 'jpeg', quality: 70, upscale: false },
    ]);
    const rid = await upload(svc, await plainJpeg(1000, 500), 'p.jpg', {}, 'shop');
    const rec = await (await svc.fetch(`/v1/resources/${rid}`)).json();
    expect(rec.renditions.map((r: { name: string; url: string; width: number }) => [r.name, r.url, r.width])).toEqual([
      ['thumbnail', `/image/200x200/${rid}.webp`, 200],
      ['hero', `/image/800x0/${rid}.jpg`, 800],
    ]);
    // The library's presets are its on-demand sizes too; the global ones it does not use are not.
    expect((await svc.fetch(`/image/1024x1024/${rid}.webp`)).status).toBe(400);
  });
});

describe('on-demand renders coalesce', () => {
  let svc: TestService;
  let workers: Worker[] = [];
  afterAll(async () => {
    await closeWorkers(workers, 2000);
    await svc?.close();
  });

  it('concurrent requests for one size share one job, and all get the image when it is done', async () => {
    svc = await startService('fs', { env: { IMAGE_SIZES: '320x0' } });
    const id = await upload(svc, await plainJpeg(640, 480), 'c.jpg');
    // Workers off from here: the jobs wait in the queue where we can count them.
    await closeWorkers(svc.workers, 2000);
    const requests = Array.from({ length: 6 }, () => svc.fetch(`/image/320x0/${id}.webp`));
    // Awaited below; a failed assertion before that must not leave them unhandled.
    for (const r of requests) r.catch(() => undefined);
    const queue = openQueue('render', svc.core.redis, svc.config.redis.prefix);
    try {
      await until('the render job to be queued', async () => (await queue.getJobCounts('waiting')).waiting! > 0, 10_000, 50);
      // Give the last requests time to add (a no-op) after the first.
      await sleep(300);
      expect(await queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toMatchObject({
        waiting: 1,
        active: 0,
        completed: 0,
        failed: 0,
      });
      expect((await queue.getJobs(['waiting'])).map((j) => j.id)).toEqual([`render-${id}-1-320x0-webp`]);
    } finally {
      await queue.close();
    }
    const connection = createRedis(redisEndpoint(svc.config)!, 'worker');
    workers = createWorkers({
      ...svc.core,
      connection,
      redisPrefix: svc.config.redis.prefix,
      logger: createLogger('silent', 'test'),
      concurrency: 1,
    });
    const answers = await Promise.all(requests);
    const bodies = await Promise.all(answers.map(async (r) => [r.status, Buffer.from(await r.arrayBuffer()).length]));
    expect(new Set(bodies.map((b) => b[0]))).toEqual(new Set([200]));
    expect(new Set(bodies.map((b) => b[1])).size).toBe(1);
    expect(RENDER_QUEUE).toBe('render');
  });
});

// On S3 each answer is one GET: its headers give size and date (no HEAD before it),
// with the same ETag, 304, HEAD and Range behaviour as on fs.
describe.skipIf(s3Missing())('image delivery on the s3 store', () => {
  let svc: TestService;
  let jpeg: Buffer;
  let id: number;
  beforeAll(async () => {
    svc = await startService('s3', { env: { IMAGE_SIZES: '300x0' } });
    jpeg = await plainJpeg(1200, 800);
    id = await upload(svc, jpeg, 'photo.jpg');
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await svc?.close();
  });

  it('answers renditions and originals (ETag, 304, HEAD, Range, 416) with one GET each and no HEAD', async () => {
    const stat = vi.spyOn(Client.prototype, 'statObject');
    const get = vi.spyOn(Client.prototype, 'getObject');
    const partial = vi.spyOn(Client.prototype, 'getPartialObject');
    const res = await svc.fetch(`/image/480x480/${id}.webp`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-length')).toBe(String(body.length));
    expect((await inspect(body)).meta).toMatchObject({ width: 480, height: 320 });
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(get).toHaveBeenCalledTimes(1);
    // Past the one-second memory of sizes: every answer below opens the object again.
    await sleep(1100);
    const again = await svc.fetch(`/image/480x480/${id}.webp`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    await sleep(1100);
    const head = await svc.fetch(`/image/480x480/${id}.webp`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('etag')]).toEqual([200, String(body.length), etag]);

    const part = await svc.fetch(`/image/0x0/${id}.jpg`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${jpeg.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(jpeg.subarray(10, 20))).toBe(true);
    await sleep(1100);
    const beyond = await svc.fetch(`/image/0x0/${id}.jpg`, { headers: { range: `bytes=${jpeg.length}-` } });
    expect([beyond.status, beyond.headers.get('content-range')]).toEqual([416, `bytes */${jpeg.length}`]);
    const whole = await svc.fetch(`/image/0x0/${id}.jpg`);
    expect(Buffer.from(await whole.arrayBuffer()).equals(jpeg)).toBe(true);

    expect(stat).not.toHaveBeenCalled();
    // Six GETs (minio's getObject is a getPartialObject of the whole): five opened the
    // object (a range of a small original is cut from its one GET), the last found its
    // size remembered and made the GET itself.
    expect(partial).toHaveBeenCalledTimes(6);
  });
});
