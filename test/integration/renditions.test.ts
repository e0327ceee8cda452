// Renditions pre-rendered at ingest, on synthetic images made by the test: presets,
// orientation, colour, metadata stripping, upscaling, animations, bombs and broken files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';
import { animatedGif, cmykJpeg, fakeDng, gpsJpeg, inspect, orientedJpeg, plainJpeg, png16 } from '../harness/render-images.js';

async function upload(
  svc: TestService,
  data: Uint8Array,
  name: string,
  library = 'default',
): Promise<{ status: number; id: number; body: string }> {
  const res = await svc.fetch(`/v1/libraries/${library}/files?wait=30`, { method: 'POST', body: form({ file: { name, data } }) });
  return { status: res.status, id: Number(res.headers.get('x-resource-id')), body: await res.text() };
}

async function resource(svc: TestService, id: number) {
  return (await svc.fetch(`/v1/resources/${id}`)).json();
}

async function image(svc: TestService, url: string): Promise<Buffer> {
  const res = await svc.fetch(url);
  expect(res.status, `${url}: ${res.status}`).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe.each<StorageKind>(storageKinds())('renditions at ingest (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage);
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('renders the default presets in WebP, lists them with URL and size, and serves each', async () => {
    const { status, id } = await upload(svc, await plainJpeg(3000, 2000), 'big.jpg');
    expect(status).toBe(204);
    const rec = await resource(svc, id);
    expect(rec.renditions).toEqual([
      { name: 'thumbnail', width: 200, height: 200, format: 'webp', size: expect.any(Number), url: `/image/200x200/${id}.webp` },
      { name: 'small', width: 480, height: 320, format: 'webp', size: expect.any(Number), url: `/image/480x480/${id}.webp` },
      { name: 'medium', width: 1024, height: 683, format: 'webp', size: expect.any(Number), url: `/image/1024x1024/${id}.webp` },
      { name: 'large', width: 2048, height: 1365, format: 'webp', size: expect.any(Number), url: `/image/2048x2048/${id}.webp` },
    ]);
    for (const r of rec.renditions) {
      const bytes = await image(svc, r.url);
      expect(bytes.length).toBe(r.size);
      const { meta } = await inspect(bytes);
      expect([meta.format, meta.width, meta.height]).toEqual(['webp', r.width, r.height]);
    }
  });

  it('renders a preset size in another format on demand (the worker reads the original from this store)', async () => {
    const { status, id } = await upload(svc, await plainJpeg(800, 600), 'od.jpg');
    expect(status).toBe(204);
    const { meta } = await inspect(await image(svc, `/image/480x480/${id}.jpg`));
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 480, 360]);
    expect((await svc.allObjects()).some((k) => k.endsWith(`/${id}/v1/image/480x480.jpg`))).toBe(true);
  });
});

describe('rendering correctness (synthetic images)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', {
      env: { RENDITION_PRESETS: 'small:100x100:inside:png,big:600x600:inside:jpeg:90,wide:600x0:inside:webp:80:upscale' },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('EXIF orientation %i renders upright: landscape, red block top-left', async (orientation) => {
    const { status, id } = await upload(svc, await orientedJpeg(orientation), `o${orientation}.jpg`);
    expect(status).toBe(204);
    const rec = await resource(svc, id);
    expect([rec.width, rec.height]).toEqual([120, 80]);
    const { meta, pixel } = await inspect(await image(svc, `/image/100x100/${id}.png`));
    expect([meta.width, meta.height]).toEqual([100, 67]);
    const [r, g] = pixel(5, 5);
    expect(r, 'top-left is red').toBeGreaterThan(180);
    expect(g).toBeLessThan(80);
    expect(pixel(90, 60)[0], 'bottom-right is not red').toBeLessThan(80);
    expect(meta.orientation ?? 1).toBe(1);
  });

  it('converts CMYK to 8-bit sRGB and embeds an sRGB ICC profile', async () => {
    const { status, id } = await upload(svc, await cmykJpeg(), 'cmyk.jpg');
    expect(status).toBe(204);
    for (const url of [`/image/100x100/${id}.png`, `/image/600x600/${id}.jpg`]) {
      const { meta } = await inspect(await image(svc, url));
      expect(meta).toMatchObject({ space: 'srgb', channels: 3, depth: 'uchar' });
      expect(meta.icc?.length).toBeGreaterThan(0);
    }
  });

  it('turns 16-bit input into 8-bit output', async () => {
    const { status, id } = await upload(svc, await png16(), 'deep.png');
    expect(status).toBe(204);
    const { meta } = await inspect(await image(svc, `/image/100x100/${id}.png`));
    expect(meta).toMatchObject({ space: 'srgb', depth: 'uchar' });
  });

  it('strips EXIF (GPS, make, description) from every rendition, keeping only the ICC profile', async () => {
    const jpeg = await gpsJpeg();
    expect(jpeg.includes(Buffer.from('secret place')), 'the test image carries the EXIF').toBe(true);
    const { status, id } = await upload(svc, jpeg, 'gps.jpg');
    expect(status).toBe(204);
    const rec = await resource(svc, id);
    expect(rec.renditions).toHaveLength(3);
    for (const r of rec.renditions) {
      const bytes = await image(svc, r.url);
      const { meta } = await inspect(bytes);
      expect(meta.exif, r.url).toBeUndefined();
      expect(meta.xmp, r.url).toBeUndefined();
      expect(bytes.includes(Buffer.from('secret place')), r.url).toBe(false);
      expect(bytes.includes(Buffer.from('TestCam')), r.url).toBe(false);
    }
  });

  it('never enlarges unless the preset says upscale', async () => {
    const { status, id } = await upload(svc, await plainJpeg(90, 60), 'tiny.jpg');
    expect(status).toBe(204);
    const sizes = Object.fromEntries(
      (await resource(svc, id)).renditions.map((r: { name: string; width: number; height: number }) => [r.name, [r.width, r.height]]),
    );
    expect(sizes).toEqual({ small: [90, 60], big: [90, 60], wide: [600, 400] });
  });

  it('renders the first frame of an animation, as a still image', async () => {
    const { status, id } = await upload(svc, await animatedGif(), 'anim.gif');
    expect(status).toBe(204);
    const rec = await resource(svc, id);
    expect([rec.width, rec.height]).toEqual([40, 30]);
    const { meta, pixel } = await inspect(await image(svc, `/image/600x0/${id}.webp`));
    expect([meta.width, meta.height, meta.pages ?? 1]).toEqual([600, 450, 1]);
    expect(pixel(300, 200)[0], 'the first frame is red').toBeGreaterThan(200);
  });

  it("renders camera RAW from its embedded preview JPEG, turned by the RAW's orientation", async () => {
    const { status, id } = await upload(svc, await fakeDng(), 'IMG_0001.DNG');
    expect(status).toBe(204);
    const rec = await resource(svc, id);
    expect(rec).toMatchObject({ type: 'image', mimeType: 'image/x-adobe-dng', width: 240, height: 320 });
    expect(rec.warnings).toContain(
      'Renditions were made from the preview JPEG embedded in the file; its full-resolution image data cannot be decoded here.',
    );
    const { meta, pixel } = await inspect(await image(svc, `/image/100x100/${id}.png`));
    expect([meta.width, meta.height]).toEqual([75, 100]);
    expect(pixel(30, 50)[0], 'the red preview, not the blue sensor data').toBeGreaterThan(200);
  });

  it("fails a truncated image with the decoder's reason (422 to a waiting client), keeping the original", async () => {
    const whole = await plainJpeg(400, 300);
    const { status, id, body } = await upload(svc, whole.subarray(0, Math.floor(whole.length / 2)), 'cut.jpg');
    expect(status).toBe(422);
    expect(JSON.parse(body).detail).toMatch(/could not be decoded: VipsJpeg: premature end/);
    const rec = await resource(svc, id);
    expect(rec).toMatchObject({ status: 'failed', errorCode: 'unreadable_file', renditions: [] });
    const original = await svc.fetch(`/image/0x0/${id}.jpg`);
    expect(original.status).toBe(200);
    expect((await original.arrayBuffer()).byteLength).toBe(Math.floor(whole.length / 2));
  });
});

describe('decompression bombs', () => {
  let svc: TestService;
  beforeAll(async () => {
    // A limit of 50 000 pixels makes a 300x200 image a "bomb" without spending a gigabyte.
    svc = await startService('fs', { env: { MAX_IMAGE_PIXELS: '50000' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('fails an image over MAX_IMAGE_PIXELS from its header, with the declared size in the reason', async () => {
    const { status, id, body } = await upload(svc, await plainJpeg(300, 200), 'bomb.jpg');
    expect(status).toBe(422);
    expect(JSON.parse(body).detail).toBe(
      'The image is 300x200 (0.1 megapixels), over the decoding limit of 0.1 megapixels (MAX_IMAGE_PIXELS); it is stored but not rendered.',
    );
    expect((await resource(svc, id)).status).toBe('failed');
  });
});
