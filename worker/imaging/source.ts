import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { UnreadableFileError } from '../../shared/errors.js';
import { HEIF_MIME_TYPES, RAW_MIME_TYPES } from '../../shared/renditions/formats.js';
import { exiftool } from '../exiftool.js';
import { scratchDir } from '../scratch.js';

const execFileP = promisify(execFile);

/** A file sharp can decode, standing for the original; `dispose` removes what was made for it. */
export interface DecodableSource {
  path: string;
  /** How it was obtained: the original itself, or a fallback for formats sharp cannot read. */
  via: 'original' | 'embedded-preview' | 'heif-convert';
  dispose(): Promise<void>;
}

/**
 * Renders `original`, falling back for formats sharp cannot decode:
 * - camera RAW: always the JPEG the camera embedded (JpgFromRaw, else PreviewImage,
 *   else ThumbnailImage), extracted by exiftool, with the original's orientation;
 * - HEIC/HEIF that sharp fails on (HEVC): `heif-convert` (libheif-examples, which the
 *   Dockerfile installs) when on PATH, else the embedded preview JPEG.
 * Everything else is rendered from the original, and its decode errors stand.
 */
export async function withDecodableSource<T>(original: string, mimeType: string, fn: (src: DecodableSource) => Promise<T>): Promise<T> {
  if (RAW_MIME_TYPES.includes(mimeType)) return withFallback(original, ['preview'], fn);
  if (!HEIF_MIME_TYPES.includes(mimeType)) return fn(originalSource(original));
  try {
    return await fn(originalSource(original));
  } catch (err) {
    if (!(err instanceof UnreadableFileError) || /decoding limit/.test(err.message)) throw err;
    return withFallback(original, ['heif-convert', 'preview'], fn, err);
  }
}

function originalSource(p: string): DecodableSource {
  return { path: p, via: 'original', dispose: async () => undefined };
}

async function withFallback<T>(
  original: string,
  order: ('preview' | 'heif-convert')[],
  fn: (src: DecodableSource) => Promise<T>,
  cause?: Error,
): Promise<T> {
  // In the process's scratch folder, which the next start clears if this worker is killed.
  const dir = await scratchDir('mi-source');
  const dispose = () => fs.rm(dir, { recursive: true, force: true });
  try {
    const tried: string[] = cause ? [`sharp: ${cause.message}`] : [];
    for (const how of order) {
      const made = how === 'preview' ? await embeddedPreview(original, dir, tried) : await heifConvert(original, dir, tried);
      if (made) return await fn({ path: made, via: how === 'preview' ? 'embedded-preview' : 'heif-convert', dispose });
    }
    throw new UnreadableFileError(`No decodable image in this file: ${tried.join('; ')}.`);
  } finally {
    await dispose();
  }
}

async function embeddedPreview(original: string, dir: string, tried: string[]): Promise<string | undefined> {
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

async function heifConvert(original: string, dir: string, tried: string[]): Promise<string | undefined> {
  const out = path.join(dir, 'decoded.jpg');
  try {
    // libheif applies the container's rotation and mirroring while decoding.
    await execFileP('heif-convert', ['-q', '95', original, out], { timeout: 120_000, maxBuffer: 1024 * 1024 });
    await fs.stat(out);
    return out;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    tried.push(e.code === 'ENOENT' ? 'heif-convert is not installed (apt-get install libheif-examples)' : `heif-convert: ${(e.stderr || e.message).trim().split('\n')[0]}`);
    return undefined;
  }
}
