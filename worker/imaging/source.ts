import fs from 'node:fs/promises';
import { UnreadableFileError } from '../../shared/errors.js';
import { mediaKindOf } from '../../shared/media/media-types.js';
import { ProgramMissingError, whichProgram } from '../run-program.js';
import { scratchDir } from '../scratch.js';
import { DECODERS, decodeWith, embeddedPreview, heifConvert, type DecodeWay } from './decoders.js';

/** Something sharp can decode, standing for the original. */
export interface DecodableSource {
  input: string | Buffer;
  /** How it was obtained: the original itself, or one of the decoder table's other ways. */
  via: DecodeWay;
  /** Noticed on the way (a blank page, an all-black video); the ingest keeps them as warnings. */
  warnings: string[];
  /** Pages of an office document, known once converted. */
  pageCount?: number;
}

export interface SourceRequest {
  mimeType: string;
  duration?: number | null;
  /** 1-based page of a document. @defaultValue 1 */
  page?: number;
  /** Longest side the caller will render (pages and frames are made no larger). */
  maxSide: number;
}

/** The programs a MIME type's decoder needs that this machine lacks (empty: it can be rendered here). */
export function missingPrograms(mimeType: string): string[] {
  const kind = mediaKindOf(mimeType);
  if (!kind) return [];
  return DECODERS[kind.decoder].programs.filter((p) => !whichProgram(p));
}

/**
 * Calls `fn` with the original made decodable, by the ways the decoder table lists for
 * its type: sharp on the original; ImageMagick, ffmpeg, pdftoppm or LibreOffice into a
 * scratch file or buffer; heif-convert or the embedded preview JPEG for HEIC and RAW.
 * When sharp fails on the original and the table has a next way, that way is tried;
 * a converter's failure is the file's (its reason stands). Used by pre-rendered and
 * on-demand renders alike.
 */
export async function withDecodableSource<T>(original: string, req: SourceRequest, fn: (src: DecodableSource) => Promise<T>): Promise<T> {
  const kind = mediaKindOf(req.mimeType);
  const ways = kind ? DECODERS[kind.decoder].ways : (['original'] as const);
  const tried: string[] = [];
  let dir: string | undefined;
  // In the process's scratch folder, which the next start clears if this worker is killed.
  const scratch = async () => (dir ??= await scratchDir('mi-source'));
  try {
    for (const [i, way] of ways.entries()) {
      const last = i === ways.length - 1;
      if (way === 'original') {
        try {
          return await fn({ input: original, via: 'original', warnings: [] });
        } catch (err) {
          if (last || !(err instanceof UnreadableFileError) || /decoding limit/.test(err.message)) throw err;
          tried.push(`sharp: ${err.message}`);
          continue;
        }
      }
      if (way === 'preview' || way === 'heif-convert') {
        const made =
          way === 'preview' ? await embeddedPreview(original, await scratch(), tried) : await heifConvert(original, await scratch(), tried);
        if (made) return await fn({ input: made, via: way, warnings: [] });
        continue;
      }
      let decoded;
      try {
        decoded = await decodeWith(way, {
          original,
          mimeType: req.mimeType,
          duration: req.duration ?? null,
          page: req.page ?? 1,
          maxSide: req.maxSide,
          dir: await scratch(),
        });
      } catch (err) {
        if (err instanceof ProgramMissingError) throw new UnreadableFileError(`This server cannot render ${req.mimeType}: ${err.message}.`);
        throw err;
      }
      return await fn({
        input: decoded.input,
        via: way,
        warnings: decoded.warnings,
        ...(decoded.pageCount ? { pageCount: decoded.pageCount } : {}),
      });
    }
    throw new UnreadableFileError(`No decodable image in this file: ${tried.join('; ')}.`);
  } finally {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
}
