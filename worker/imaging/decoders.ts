import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { DecoderName } from '../../shared/media/media-types.js';
import { UnreadableFileError } from '../../shared/errors.js';
import { exiftool } from '../exiftool.js';
import { pdfInfo } from '../media/pdf-info.js';
import { reasonFrom, runProgram, whichProgram } from '../run-program.js';

/** One way of turning an original into something sharp decodes. */
export type DecodeWay =
  'original' | 'magick' | 'heif-convert' | 'preview' | 'ffmpeg-image' | 'video-frame' | 'audio-cover' | 'pdf' | 'office';

/**
 * The decoder table: for each decoder of shared/media/media-types.ts, the ways tried in
 * order (the first that yields pixels wins; `original` is sharp on the file itself, and
 * its decode errors move on to the next way when there is one) and the programs without
 * which the type is stored as a plain file.
 */
export const DECODERS: Readonly<Record<DecoderName, { ways: readonly DecodeWay[]; programs: readonly string[] }>> = {
  sharp: { ways: ['original'], programs: [] },
  tiff: { ways: ['original', 'magick'], programs: [] },
  heif: { ways: ['original', 'heif-convert', 'preview'], programs: [] },
  'raw-preview': { ways: ['preview'], programs: [] },
  magick: { ways: ['magick'], programs: [magickProgram()] },
  'ffmpeg-image': { ways: ['ffmpeg-image'], programs: ['ffmpeg'] },
  'video-frame': { ways: ['video-frame'], programs: ['ffmpeg', 'ffprobe'] },
  'audio-cover': { ways: ['audio-cover'], programs: ['ffmpeg', 'ffprobe'] },
  pdf: { ways: ['pdf'], programs: ['pdftoppm', 'pdfinfo'] },
  office: { ways: ['office'], programs: ['soffice', 'pdftoppm', 'pdfinfo'] },
};

/** ImageMagick's command: `magick` (7) where installed, else Debian's IM6 binary (its plain `convert` may be another tool's). */
function magickProgram(): string {
  return whichProgram('magick') ? 'magick' : 'convert-im6.q16';
}

/** What a decode needs to know beyond the file. */
export interface DecodeRequest {
  original: string;
  mimeType: string;
  /** Seconds of a video (where to look for a poster frame); null when unknown. */
  duration: number | null;
  /** 1-based page of a document. */
  page: number;
  /** Longest side the renditions need: pages and frames are rendered no larger. */
  maxSide: number;
  /** A scratch folder of this decode, removed after it. */
  dir: string;
}

export interface Decoded {
  input: string | Buffer;
  /** Noticed, not fatal (an all-black video, a blank page). */
  warnings: string[];
  /** Pages of an office document once converted (its count is only known then). */
  pageCount?: number;
}

/** The coder ImageMagick must use for each type: never its own guess (a file named .tga could hold MVG or MSL). */
const MAGICK_CODERS: Record<string, string> = {
  'image/bmp': 'bmp',
  'image/x-icon': 'ico',
  'image/vnd.microsoft.icon': 'ico',
  'image/jp2': 'jp2',
  'image/jpx': 'jp2',
  'image/j2c': 'j2k',
  'image/x-tga': 'tga',
  'image/vnd.adobe.photoshop': 'psd',
  'image/x-pcx': 'pcx',
  'image/x-portable-anymap': 'pnm',
  'image/x-portable-bitmap': 'pbm',
  'image/x-portable-graymap': 'pgm',
  'image/x-portable-pixmap': 'ppm',
  'image/x-portable-arbitrarymap': 'pam',
  'image/vnd.ms-dds': 'dds',
  'image/tiff': 'tiff',
};

export async function decodeWith(way: Exclude<DecodeWay, 'original' | 'heif-convert' | 'preview'>, req: DecodeRequest): Promise<Decoded> {
  switch (way) {
    case 'magick':
      return magick(req);
    case 'ffmpeg-image':
      return { input: (await ffmpegFrame(req.original, [], null, req.dir)).data, warnings: [] };
    case 'video-frame':
      return posterFrame(req);
    case 'audio-cover':
      return coverArt(req);
    case 'pdf':
      return pdfPage(req.original, req.page, req.maxSide, req.dir);
    case 'office':
      return officePage(req);
  }
}

async function magick(req: DecodeRequest): Promise<Decoded> {
  const coder = MAGICK_CODERS[req.mimeType];
  if (!coder) throw new UnreadableFileError(`No ImageMagick coder is set for ${req.mimeType}.`);
  const icon = coder === 'ico';
  // An icon holds several sizes: all are written out and the largest is used. A PSD's
  // first image is its flattened composite; other formats' first frame is the picture.
  const input = `${coder}:${req.original}${icon ? '' : '[0]'}`;
  const out = path.join(req.dir, icon ? 'frame-%d.tif' : 'decoded.tif');
  const run = await runProgram(magickProgram(), [
    // Below Debian's policy.xml ceilings; a file needing more fails with IM's "cache resources exhausted".
    '-limit',
    'memory',
    '512MiB',
    '-limit',
    'map',
    '1GiB',
    '-limit',
    'disk',
    '2GiB',
    '-limit',
    'time',
    '60',
    '-limit',
    'width',
    '65000',
    '-limit',
    'height',
    '65000',
    // sRGB out: sharp reads RGB and grey TIFFs, not every colour space ImageMagick writes (8-bit CIELab).
    input,
    '-auto-orient',
    '-colorspace',
    'sRGB',
    '-compress',
    'none',
    `tiff:${out}`,
  ]);
  const files = (await fs.readdir(req.dir)).filter((f) => f.endsWith('.tif'));
  if (run.code !== 0 || files.length === 0) {
    throw new UnreadableFileError(`The ${coder.toUpperCase()} image could not be decoded (ImageMagick: ${reasonFrom(run.stderr)}).`);
  }
  let best = path.join(req.dir, files[0]!);
  if (files.length > 1) {
    let area = -1;
    for (const f of files) {
      const m = await sharp(path.join(req.dir, f))
        .metadata()
        .catch(() => undefined);
      if (m?.width && m.height && m.width * m.height > area) {
        area = m.width * m.height;
        best = path.join(req.dir, f);
      }
    }
  }
  // A decoder that gave up half-way often still writes the image, blank where data was missing.
  if (run.stderr.trim() && (await isBlank(best))) {
    throw new UnreadableFileError(
      `The ${coder.toUpperCase()} image is damaged: ImageMagick decoded nothing but a blank image (${reasonFrom(run.stderr)}).`,
    );
  }
  return { input: best, warnings: [] };
}

/**
 * One frame through ffmpeg into an uncompressed TIFF file (which sharp reads; PPM it does not),
 * turned as the container says (ffmpeg applies the display matrix), scaled down to
 * `maxSide` with non-square pixels made square in the same pass. With `measure`,
 * ffmpeg's signalstats filter also says whether the frame is flat (one colour, or
 * nearly: 80 % of its pixels within a few levels) — measured by ffmpeg on the frame it
 * already has, so avoiding a black poster costs no second decode.
 */
let frames = 0;

async function ffmpegFrame(
  file: string,
  pre: string[],
  maxSide: number | null,
  dir: string,
  measure = false,
): Promise<{ data: string; flat: boolean }> {
  // An image keeps its size (it is measured from this output); a frame is made no larger than needed.
  const out = path.join(dir, `frame-${++frames}.tif`);
  const scale =
    maxSide === null
      ? 'setsar=1'
      : `scale='trunc(min(1,${maxSide}/max(iw*sar,ih))*iw*sar/2)*2':'trunc(min(1,${maxSide}/max(iw*sar,ih))*ih/2)*2',setsar=1`;
  const run = await runProgram(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-threads',
      '2',
      ...pre,
      '-i',
      file,
      '-map',
      '0:v:0',
      '-frames:v',
      '1',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      measure ? `${scale},signalstats,metadata=mode=print:file=pipe\\\\:2` : scale,
      // A file, not a pipe: megabytes of pixels need not pass through this process.
      '-f',
      'image2',
      '-update',
      '1',
      '-c:v',
      'tiff',
      '-compression_algo',
      'raw',
      '-pix_fmt',
      'rgb24',
      '-y',
      out,
    ],
    { timeoutMs: 60_000 },
  );
  const stats = new Map<string, number>();
  const messages: string[] = [];
  for (const line of run.stderr.split('\n')) {
    const m = /^lavfi\.signalstats\.(\w+)=([\d.]+)/.exec(line);
    if (m) {
      if (!stats.has(m[1]!)) stats.set(m[1]!, Number(m[2]));
    } else if (!/^frame:\d+/.test(line)) messages.push(line);
  }
  const written = (await fs.stat(out).catch(() => undefined))?.size ?? 0;
  if (run.code !== 0 || written === 0) {
    throw new UnreadableFileError(
      `No frame could be decoded (ffmpeg: ${run.code === 0 ? 'the stream has no decodable frame' : reasonFrom(messages.join('\n'))}).`,
    );
  }
  const spread = (c: string) => (stats.get(`${c}HIGH`) ?? 255) - (stats.get(`${c}LOW`) ?? 0);
  return { data: out, flat: measure && spread('Y') <= 3 && spread('U') <= 3 && spread('V') <= 3 };
}

/**
 * A poster frame that shows something: a frame at 10 % of the clip (past the black of a
 * fade-in, before the credits), and when that one is flat, a few later ones. Seeking
 * (-ss before -i) jumps to the key frame before the time and decodes from there: one
 * frame's work, not a scan of the clip. An all-black clip keeps its first try.
 */
async function posterFrame(req: DecodeRequest): Promise<Decoded> {
  const d = req.duration ?? 0;
  const times = d > 0 ? [0.1, 0.33, 0.55, 0.8].map((f) => Math.min(d * f, Math.max(0, d - 0.1))) : [0];
  let first: string | undefined;
  let lastError: unknown;
  for (const t of times) {
    let frame: { data: string; flat: boolean };
    try {
      frame = await ffmpegFrame(req.original, t > 0 ? ['-ss', t.toFixed(3)] : [], req.maxSide, req.dir, true);
    } catch (err) {
      if (!(err instanceof UnreadableFileError)) throw err;
      lastError = err;
      continue;
    }
    first ??= frame.data;
    if (!frame.flat) return { input: frame.data, warnings: [] };
  }
  if (!first && times[0] !== 0) {
    // A duration the stream does not live up to (truncated file): the very first frame.
    try {
      first = (await ffmpegFrame(req.original, [], req.maxSide, req.dir)).data;
    } catch (err) {
      lastError = err;
    }
  }
  if (!first) throw lastError instanceof Error ? lastError : new UnreadableFileError('The video has no decodable frame.');
  return { input: first, warnings: ['Every frame tried for the poster was a single colour; the poster shows the first of them.'] };
}

async function coverArt(req: DecodeRequest): Promise<Decoded> {
  return { input: (await ffmpegFrame(req.original, [], req.maxSide, req.dir)).data, warnings: [] };
}

/**
 * One page through poppler's pdftoppm, scaled so its longer side is `maxSide` (a page
 * declaring absurd dimensions costs no more than any other). Poppler reports damage on
 * stderr and renders what it can: damage with nothing drawn is a failure, not a preview.
 */
async function pdfPage(file: string, page: number, maxSide: number, dir: string): Promise<Decoded> {
  // To a file: a TIFF needs a seekable output (on a pipe pdftoppm writes no directory).
  const root = path.join(dir, `page-${page}`);
  const run = await runProgram(
    'pdftoppm',
    ['-f', String(page), '-l', String(page), '-singlefile', '-scale-to', String(maxSide), '-tiff', '-tiffcompression', 'none', file, root],
    { timeoutMs: 60_000 },
  );
  const out = `${root}.tif`;
  if (run.code !== 0 || !(await fs.stat(out).catch(() => undefined))) {
    if (/wrong page range|first page .* after the last/i.test(run.stderr))
      throw new UnreadableFileError(`The document has no page ${page}.`);
    throw new UnreadableFileError(`Page ${page} of the PDF could not be rendered (pdftoppm: ${reasonFrom(run.stderr)}).`);
  }
  // Poppler renders what it can of a damaged file and says so on stderr; damage with
  // nothing drawn is a failure, not a preview. (A clean blank page is a blank page: the
  // check costs a decode, so it runs only when poppler complained.)
  if (!/error/i.test(run.stderr)) return { input: out, warnings: [] };
  if (await isBlank(out))
    throw new UnreadableFileError(`The PDF is damaged: page ${page} rendered blank (pdftoppm: ${reasonFrom(run.stderr)}).`);
  return { input: out, warnings: [`The PDF is damaged; poppler rendered what it could (${reasonFrom(run.stderr)}).`] };
}

/** LibreOffice converts the document to PDF (in the scratch folder, with a profile of its own there), then page 1 as any PDF. */
async function officePage(req: DecodeRequest): Promise<Decoded> {
  const profile = path.join(req.dir, 'lo-profile');
  const run = await runProgram(
    'soffice',
    [
      `-env:UserInstallation=file://${profile}`,
      '--headless',
      '--norestore',
      '--nolockcheck',
      '--convert-to',
      'pdf',
      '--outdir',
      req.dir,
      req.original,
    ],
    { timeoutMs: 120_000, memoryBytes: 3 * 1024 * 1024 * 1024 },
  );
  const pdf = (await fs.readdir(req.dir)).find((f) => f.endsWith('.pdf'));
  if (run.code !== 0 || !pdf)
    throw new UnreadableFileError(
      `The document could not be converted to PDF (LibreOffice: ${reasonFrom(run.stderr || run.stdout.toString())}).`,
    );
  const file = path.join(req.dir, pdf);
  const info = await pdfInfo(file);
  return { ...(await pdfPage(file, Math.min(req.page, info.pageCount), req.maxSide, req.dir)), pageCount: info.pageCount };
}

/** All one colour (every channel's deviation under ~1 % of the range): what a failed decode leaves. */
export async function isBlank(input: string | Buffer): Promise<boolean> {
  let s;
  try {
    s = await sharp(input, { failOn: 'none', limitInputPixels: false }).resize(256, 256, { fit: 'inside' }).stats();
  } catch (err) {
    throw new UnreadableFileError(`The decoder's output could not be read: ${(err as Error).message}`, { cause: err });
  }
  return s.channels.every((c) => c.stdev < 2.5);
}

/** The JPEG a RAW (or HEIC) carries, with the original's orientation; undefined when none. */
export async function embeddedPreview(original: string, dir: string, tried: string[]): Promise<string | undefined> {
  const et = exiftool();
  for (const tag of ['JpgFromRaw', 'PreviewImage', 'ThumbnailImage'] as const) {
    const out = path.join(dir, `${tag}.jpg`);
    try {
      await et.extractBinaryTag(tag, original, out);
      if ((await fs.stat(out)).size === 0) continue;
    } catch {
      continue;
    }
    // The preview is stored as the sensor reads; the original's EXIF says how to turn it.
    const tags = await et.read(original, { readArgs: ['-n'] }).catch(() => undefined);
    const orientation = Number((tags as { Orientation?: unknown } | undefined)?.Orientation);
    if (orientation >= 2 && orientation <= 8) {
      await et.write(out, { Orientation: orientation } as never, { writeArgs: ['-n', '-overwrite_original'] }).catch(() => undefined);
    }
    return out;
  }
  tried.push('exiftool: no JpgFromRaw, PreviewImage or ThumbnailImage embedded');
  return undefined;
}

export async function heifConvert(original: string, dir: string, tried: string[]): Promise<string | undefined> {
  const out = path.join(dir, 'decoded.jpg');
  if (!whichProgram('heif-convert')) {
    tried.push('heif-convert is not installed (apt-get install libheif-examples)');
    return undefined;
  }
  // libheif applies the container's rotation and mirroring while decoding.
  const run = await runProgram('heif-convert', ['-q', '95', original, out], { timeoutMs: 120_000 });
  if (run.code === 0 && (await fs.stat(out).catch(() => undefined))) return out;
  tried.push(`heif-convert: ${reasonFrom(run.stderr || run.stdout.toString())}`);
  return undefined;
}
