import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExifTool } from 'exiftool-vendored';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';

/**
 * Synthetic images for the rendition tests: every behaviour the real fixtures show,
 * made here, so the suite covers it without ../shared. Each call varies the pixels a
 * little (`seed`), so uploads never collide with checksum de-duplication.
 */
let counter = 0;
const seedColour = () => {
  counter++;
  return { r: 40 + (counter % 50), g: 160 + (Math.floor(counter / 50) % 50), b: 90 + (process.pid % 50) };
};

/**
 * A landscape picture as it should be displayed: a red block in the top-left corner,
 * the rest green — then stored as a camera with that EXIF orientation stores it.
 */
export async function orientedJpeg(orientation: number, width = 120, height = 80): Promise<Buffer> {
  const bg = seedColour();
  const display = await sharp({ create: { width, height, channels: 3, background: { r: 20, g: bg.g, b: 20 } } })
    .composite([
      {
        input: {
          create: { width: Math.round(width / 3), height: Math.round(height / 3), channels: 3, background: { r: 230, g: 10, b: 10 } },
        },
        left: 0,
        top: 0,
      },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  const step = async (buf: { data: Buffer; info: OutputInfo }, op: (s: Sharp) => Sharp) =>
    op(sharp(buf.data, { raw: { width: buf.info.width, height: buf.info.height, channels: buf.info.channels } }))
      .raw()
      .toBuffer({ resolveWithObject: true });
  // Stored pixels = the inverse of the transform the orientation asks a viewer to apply.
  const ops: Record<number, ((s: Sharp) => Sharp)[]> = {
    1: [],
    2: [(s) => s.flop()],
    3: [(s) => s.rotate(180)],
    4: [(s) => s.flip()],
    5: [(s) => s.rotate(90), (s) => s.flop()],
    6: [(s) => s.rotate(270)],
    7: [(s) => s.rotate(270), (s) => s.flop()],
    8: [(s) => s.rotate(90)],
  };
  let stored = display;
  for (const op of ops[orientation]!) stored = await step(stored, op);
  const { width: w, height: h, channels } = stored.info;
  return sharp(stored.data, { raw: { width: w, height: h, channels } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation })
    .toBuffer();
}

export async function plainJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: seedColour() } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

export async function cmykJpeg(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: seedColour() } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
}

export async function png16(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: seedColour() } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/** A JPEG with GPS coordinates, a camera make and a comment in its EXIF. */
export async function gpsJpeg(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: seedColour() } })
    .jpeg()
    .withExif({
      IFD0: { Make: 'TestCam', ImageDescription: 'secret place' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '52/1 22/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '4/1 53/1 0/1' },
    })
    .toBuffer();
}

/** An animated GIF of three 40x30 frames: red, green, blue. */
export async function animatedGif(): Promise<Buffer> {
  const c = seedColour();
  const frames = await Promise.all(
    [
      { r: 250, g: c.r % 5, b: 0 },
      { r: 0, g: 250, b: 0 },
      { r: 0, g: 0, b: 250 },
    ].map((background) =>
      sharp({ create: { width: 40, height: 30, channels: 3, background } })
        .png()
        .toBuffer(),
    ),
  );
  return sharp(frames, { join: { animated: true } })
    .gif({ delay: 100, loop: 0 })
    .toBuffer();
}

/** Decoded rendition: size, format facts, and the RGB of a pixel. */
export async function inspect(bytes: Uint8Array): Promise<{ meta: Metadata; pixel: (x: number, y: number) => number[] }> {
  const buf = Buffer.from(bytes);
  const meta = await sharp(buf).metadata();
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    meta,
    pixel: (x, y) => {
      const i = (y * info.width + x) * info.channels;
      return [data[i]!, data[i + 1]!, data[i + 2]!];
    },
  };
}

/**
 * A minimal camera RAW: a DNG whose main image is 64x48 dark blue sensor data, with a
 * 320x240 red JPEG preview embedded and EXIF orientation 6 — as cameras store it. Made
 * with exiftool (the same vendored one the worker uses).
 */
export async function fakeDng(): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-dng-'));
  const et = new ExifTool({ maxProcs: 1 });
  try {
    const raw = path.join(dir, 'x.dng');
    const preview = path.join(dir, 'preview.jpg');
    await sharp({ create: { width: 64, height: 48, channels: 3, background: seedColour() } })
      .tiff()
      .toFile(raw);
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 240, g: 10, b: 10 } } })
      .jpeg()
      .toFile(preview);
    await et.write(
      raw,
      {},
      { writeArgs: ['-n', '-overwrite_original', '-DNGVersion=1 4 0 0', '-Orientation=6', `-PreviewImage<=${preview}`] },
    );
    return await fs.readFile(raw);
  } finally {
    await et.end();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
