import sharp, { type Metadata, type OutputInfo, type ResizeOptions, type Sharp, type SharpOptions } from 'sharp';
import { UnreadableFileError } from '../../shared/errors.js';
import type { RenditionFit, RenditionPreset } from '../../shared/model.js';

export interface DecodeLimits {
  /** sharp's limitInputPixels: larger images are refused from their header. */
  maxPixels: number;
}

export interface RenderedImage {
  preset: RenditionPreset;
  data: Buffer;
  width: number;
  height: number;
}

/** EXIF orientations that turn the image by 90° (width and height swap when displayed). */
const SWAPS = new Set([5, 6, 7, 8]);

/**
 * Decoding options for untrusted input. `failOn: 'truncated'`: a file cut short or with
 * damaged scan data fails with libvips' reason (docs/api.md, "Images and renditions"),
 * while the benign warnings many cameras trigger ("extraneous bytes before marker") do
 * not. One page only: the first frame of an animation, the first page of a TIFF.
 */
function decodeOptions(limits: DecodeLimits): SharpOptions {
  return { limitInputPixels: limits.maxPixels, failOn: 'truncated', pages: 1, page: 0 };
}

/** Width × height as displayed (after EXIF orientation), from the header only. */
export async function displayedSize(
  input: string | Buffer,
  limits: DecodeLimits,
): Promise<{ width: number; height: number; orientation: number }> {
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false, failOn: 'none' }).metadata();
  } catch (err) {
    throw new UnreadableFileError(`The image header could not be read: ${(err as Error).message}`, { cause: err });
  }
  const { width, height } = meta;
  if (!width || !height)
    throw new UnreadableFileError(`The image declares no usable dimensions (width ${width ?? 'missing'}, height ${height ?? 'missing'}).`);
  // The bomb check: from the declared size, before a single pixel is decoded.
  if (width * height > limits.maxPixels) {
    throw new UnreadableFileError(
      `The image is ${width}x${height} (${mp(width * height)} megapixels), over the decoding limit of ${mp(limits.maxPixels)} megapixels ` +
        `(MAX_IMAGE_PIXELS); it is stored but not rendered.`,
    );
  }
  const orientation = meta.orientation ?? 1;
  return SWAPS.has(orientation) ? { width: height, height: width, orientation } : { width, height, orientation };
}

/**
 * All presets of one original with a single decode: the original is decoded once, at
 * the smallest scale the largest preset needs (libvips shrink-on-load: a JPEG decodes
 * at 1/2, 1/4 or 1/8 directly), upright and in sRGB, into memory; every preset is then
 * derived from that intermediate instead of from the file again.
 *
 * Every rendition is upright (EXIF orientation applied), 8-bit sRGB with an sRGB ICC
 * profile embedded (CMYK, Adobe RGB, Display P3 and 16-bit inputs converted), and
 * carries no other metadata: no EXIF, no GPS, no XMP, no IPTC.
 */
export async function renderPresets(
  input: string | Buffer,
  presets: readonly RenditionPreset[],
  limits: DecodeLimits,
): Promise<{ source: { width: number; height: number }; renditions: RenderedImage[] }> {
  const size = await displayedSize(input, limits);
  if (presets.length === 0) return { source: size, renditions: [] };
  const scale = Math.min(1, Math.max(...presets.map((p) => Math.min(scaleFor(p, size), 1))));
  const w0 = Math.max(1, Math.round(size.width * scale));
  const h0 = Math.max(1, Math.round(size.height * scale));

  let pipeline = sharp(input, decodeOptions(limits)).autoOrient();
  if (w0 !== size.width || h0 !== size.height) pipeline = pipeline.resize(w0, h0, { fit: 'fill' });
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // toColourspace: 8-bit sRGB from CMYK, 16-bit, grey or any ICC profile (the
    // embedded profile is used for the conversion).
    decoded = await pipeline.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeError(err);
  }
  const { data, info } = decoded;
  const raw = { width: info.width, height: info.height, channels: info.channels };
  await assertNotHalfDecoded(input, data, raw, limits);

  const out: RenderedImage[] = [];
  // Sequentially: the per-image libvips threads already use the cores given to this job.
  for (const preset of presets) {
    const img = sharp(data, { raw }).resize(resizeOptions(preset));
    const { data: bytes, info: o } = await encode(img, preset).toBuffer({ resolveWithObject: true });
    out.push({ preset, data: bytes, width: o.width, height: o.height });
  }
  return { source: size, renditions: out };
}

/** One rendition straight from the original (on-demand: one size, so no intermediate). */
export async function renderOne(input: string | Buffer, preset: RenditionPreset, limits: DecodeLimits): Promise<RenderedImage> {
  await displayedSize(input, limits);
  try {
    const img = sharp(input, decodeOptions(limits)).autoOrient().resize(resizeOptions(preset)).toColourspace('srgb');
    const { data, info } = await encode(img, preset).toBuffer({ resolveWithObject: true });
    return { preset, data, width: info.width, height: info.height };
  } catch (err) {
    throw decodeError(err);
  }
}

/**
 * A decoder that gives up part-way (libtiff on a damaged strip, libjpeg on lost scan
 * data) may only warn and hand back an image of one colour: rendered, that is a set of
 * black squares marked `ready`. A single-colour result is decoded once more with
 * warnings as errors; if the decoder complains, the file fails with its reason. A truly
 * uniform image (a white page, a flat swatch) decodes without a warning and stays.
 */
async function assertNotHalfDecoded(
  input: string | Buffer,
  data: Buffer,
  raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 },
  limits: DecodeLimits,
): Promise<void> {
  const stats = await sharp(data, { raw }).stats();
  if (!stats.channels.every((c) => c.stdev < 1)) return;
  try {
    await sharp(input, { ...decodeOptions(limits), failOn: 'warning' })
      .resize(64, 64, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new UnreadableFileError(`The image is damaged: it decodes to a single colour (${(err as Error).message.split('\n')[0]}).`, {
      cause: err,
    });
  }
}

function resizeOptions(p: RenditionPreset): ResizeOptions {
  return {
    width: p.width || undefined,
    height: p.height || undefined,
    fit: p.fit,
    withoutEnlargement: !p.upscale,
    // A cropped thumbnail keeps the part of the photo with the most detail, not just the centre.
    ...(p.fit === 'cover' ? { position: sharp.strategy.attention } : {}),
    background: { r: 255, g: 255, b: 255, alpha: p.format === 'jpeg' ? 1 : 0 },
  };
}

function encode(img: Sharp, p: RenditionPreset): Sharp {
  // Only the sRGB profile is attached: it tells colour-managed viewers what the pixels
  // mean, and it is the one piece of metadata a rendition keeps.
  const tagged = img.withIccProfile('srgb');
  switch (p.format) {
    case 'jpeg':
      // JPEG has no alpha: composite on white rather than let transparent pixels go black.
      return tagged.flatten({ background: '#ffffff' }).jpeg({ quality: p.quality, mozjpeg: false, progressive: true });
    case 'png':
      return tagged.png({ compressionLevel: 6 });
    case 'avif':
      return tagged.avif({ quality: p.quality, effort: 2 });
    default:
      return tagged.webp({ quality: p.quality, effort: 3 });
  }
}

/**
 * Longest side a page or a video frame is rendered at so that every preset gets its full
 * size: a box's longer side for `inside`/`contain`/`fill`; for a crop (`cover`,
 * `outside`) or a box with one free side the source's other side must reach it too,
 * which for aspect ratios up to 4:1 takes four times as much. Capped at `maxDimension`.
 */
export function sourceSideFor(presets: readonly Pick<RenditionPreset, 'width' | 'height' | 'fit'>[], maxDimension: number): number {
  let side = 1;
  for (const p of presets) {
    const crop = p.fit === 'cover' || p.fit === 'outside' || p.width === 0 || p.height === 0;
    side = Math.max(side, Math.max(p.width, p.height) * (crop ? 4 : 1));
  }
  return Math.min(side, maxDimension);
}

/** Scale (relative to the displayed size) at which the preset's box is filled as its fit requires. */
function scaleFor(
  p: { width: number; height: number; fit: RenditionFit; upscale: boolean },
  size: { width: number; height: number },
): number {
  const sx = p.width / size.width;
  const sy = p.height / size.height;
  if (p.width === 0) return sy;
  if (p.height === 0) return sx;
  return p.fit === 'inside' || p.fit === 'contain' ? Math.min(sx, sy) : Math.max(sx, sy);
}

function decodeError(err: unknown): Error {
  const msg = (err as Error).message ?? String(err);
  if (/exceeds pixel limit/i.test(msg))
    return new UnreadableFileError(`The image exceeds the decoding limit of MAX_IMAGE_PIXELS: ${msg}`, { cause: err });
  if (
    /^(Vips|vips|Input|heif|VipsJpeg|VipsPng|tiff|gif|webp)/i.test(msg) ||
    /corrupt|premature|truncated|bad seek|read error|unsupported/i.test(msg)
  ) {
    return new UnreadableFileError(`The image could not be decoded: ${msg.split('\n')[0]}`, { cause: err });
  }
  return err as Error;
}

function mp(pixels: number): string {
  return (pixels / 1e6).toFixed(pixels < 1e7 ? 1 : 0);
}
