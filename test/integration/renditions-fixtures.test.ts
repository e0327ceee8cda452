// Renditions of the real-world files in ../shared/fixtures (see its MANIFEST.json):
// camera orientations, CMYK, 16-bit, GPS, HEIC from an iPhone, bombs and broken files.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, hasSharedFixtures, SHARED_FIXTURES, startService, type TestService } from '../harness/service.js';
import { inspect } from '../harness/render-images.js';

const fixtures = await hasSharedFixtures();
const heifConvert = (() => {
  try {
    execFileSync('heif-convert', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!fixtures)(fixtures ? 'renditions of the real fixtures' : 'skipped: ../shared/fixtures is absent', () => {
  let svc: TestService;
  beforeAll(async () => {
    // Two presets instead of four: the same code paths, half the encoding time.
    svc = await startService('fs', { env: { RENDITION_PRESETS: 'thumbnail:200x200:cover:webp:75,small:480x480:inside:webp:80' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  async function ingest(file: string) {
    const bytes = await fs.readFile(path.join(SHARED_FIXTURES, file));
    const res = await svc.fetch('/v1/libraries/default/files?wait=60', {
      method: 'POST',
      body: form({ file: { name: path.basename(file), data: bytes } }),
    });
    const id = Number(res.headers.get('x-resource-id'));
    return {
      status: res.status,
      body: res.status === 204 ? undefined : await res.json(),
      rec: await (await svc.fetch(`/v1/resources/${id}`)).json(),
    };
  }

  async function get(url: string): Promise<Buffer> {
    const res = await svc.fetch(url);
    expect(res.status, url).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }

  /** A small grey thumbnail of a rendition, to compare pictures regardless of encoding. */
  async function signature(bytes: Buffer): Promise<Buffer> {
    return sharp(bytes).resize(48, 32, { fit: 'fill' }).greyscale().raw().toBuffer();
  }

  it('renders all 8 EXIF orientations (and the invalid 0) upright: the same picture as Landscape_1', async () => {
    const reference = await signature(await get((await ingest('orientation/Landscape_1.jpg')).rec.renditions[1].url));
    for (const n of [0, 2, 3, 4, 5, 6, 7, 8]) {
      const { status, rec } = await ingest(`orientation/Landscape_${n}.jpg`);
      expect(status, `Landscape_${n}`).toBe(204);
      expect([rec.width, rec.height], `Landscape_${n}`).toEqual([1800, 1200]);
      const small = rec.renditions.find((r: { name: string }) => r.name === 'small');
      expect([small.width, small.height], `Landscape_${n}`).toEqual([480, 320]);
      const sig = await signature(await get(small.url));
      let diff = 0;
      for (let i = 0; i < sig.length; i++) diff += Math.abs(sig[i]! - reference[i]!);
      expect(diff / sig.length, `Landscape_${n} differs from Landscape_1`).toBeLessThan(8);
    }
  });

  it.each(['formats/Channel_digital_image_CMYK_color.jpg', 'formats/tbgn2c16.png', 'formats/tifftag-photoshop.tiff'])(
    '%s becomes 8-bit sRGB with an ICC profile',
    async (file) => {
      const { status, rec } = await ingest(file);
      expect(status).toBe(204);
      expect(rec.renditions).toHaveLength(2);
      for (const r of rec.renditions) {
        const { meta } = await inspect(await get(r.url));
        expect(meta, r.url).toMatchObject({ space: 'srgb', depth: 'uchar' });
        expect(meta.icc?.length, r.url).toBeGreaterThan(0);
      }
    },
  );

  it.each([
    'gps/Sony DSC-HX5V (2).jpg',
    'gps/Kodak_CX7530.jpg',
    'gps/Samsung GT-I9000 (Galaxy S).jpg',
    'camera/87_OSError.jpg',
    'hostile/POC_phpinfo-metadata.jpg',
  ])('%s: no GPS, EXIF or XMP in any rendition', async (file) => {
    const { status, rec } = await ingest(file);
    expect(status).toBe(204);
    for (const r of rec.renditions) {
      const bytes = await get(r.url);
      const { meta } = await inspect(bytes);
      expect([meta.exif, meta.xmp, meta.iptc], r.url).toEqual([undefined, undefined, undefined]);
      expect(bytes.includes(Buffer.from('GPS')), r.url).toBe(false);
      expect(bytes.includes(Buffer.from('phpinfo')), r.url).toBe(false);
    }
  });

  it.skipIf(!heifConvert)(
    heifConvert
      ? 'renders the iPhone HEIC (HEVC, which prebuilt sharp cannot decode) upright'
      : 'skipped: heif-convert (libheif-examples) is not installed',
    async () => {
      const { status, rec } = await ingest('formats/IMG_5195.HEIC');
      expect(status).toBe(204);
      expect(rec).toMatchObject({ mimeType: 'image/heic', type: 'image', width: 2566, height: 3313 });
      expect(rec.renditions.map((r: { name: string; width: number; height: number }) => [r.name, r.width, r.height])).toEqual([
        ['thumbnail', 200, 200],
        ['small', 372, 480],
      ]);
      const { meta } = await inspect(await get(rec.renditions[1].url));
      expect(meta).toMatchObject({ format: 'webp', width: 372, height: 480, space: 'srgb' });
    },
  );

  it('renders the first frame of animated GIF and WebP', async () => {
    for (const file of ['formats/animated-loop-3.gif', 'formats/animated-loop-3.webp']) {
      const { status, rec } = await ingest(file);
      expect(status, file).toBe(204);
      const { meta } = await inspect(await get(rec.renditions[1].url));
      expect([meta.width, meta.height, meta.pages ?? 1], file).toEqual([370, 285, 1]);
    }
  });

  it.each([
    [
      'hostile/lottapixel.jpg',
      'The image is 64250x64250 (4128 megapixels), over the decoding limit of 268 megapixels (MAX_IMAGE_PIXELS); it is stored but not rendered.',
    ],
    [
      'hostile/65536-uint32-limit.png',
      'The image is 65536x65536 (4295 megapixels), over the decoding limit of 268 megapixels (MAX_IMAGE_PIXELS); it is stored but not rendered.',
    ],
    [
      'hostile/giant-image.jpg',
      'The image is 20000x14000 (280 megapixels), over the decoding limit of 268 megapixels (MAX_IMAGE_PIXELS); it is stored but not rendered.',
    ],
  ])('fails the pixel bomb %s from its header with the reason, memory untouched', async (file, reason) => {
    const before = process.memoryUsage().rss;
    const { status, body, rec } = await ingest(file);
    expect(status).toBe(422);
    expect(body.detail).toBe(reason);
    expect(rec).toMatchObject({ status: 'failed', errorCode: 'unreadable_file' });
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it.each([
    ['corrupt/truncated.jpg', 'The image could not be decoded: VipsJpeg: premature end of JPEG image'],
    ['corrupt/truncated.png', 'The image could not be decoded: vipspng: libpng read error'],
    ['corrupt/corrupted.jpg', 'The image could not be decoded: VipsJpeg: Corrupt JPEG data: premature end of data segment'],
  ])("fails the broken %s with the decoder's reason", async (file, reason) => {
    const { status, body } = await ingest(file);
    expect(status).toBe(422);
    expect(body.detail).toBe(reason);
  });
});
