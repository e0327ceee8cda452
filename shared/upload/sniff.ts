import { fileTypeFromBuffer } from 'file-type';
import type { ResourceType } from '../model.js';
import { mediaKindOf } from '../media/media-types.js';
import { sniffImageHeader, validMpegAudio, validIcon } from './magic.js';

export interface Sniffed {
  mimeType: string;
  /** Canonical extension of the sniffed type, or the client's (sanitised) one when unknown. */
  extension: string;
  type: ResourceType;
}

const TEXT_EXTENSIONS: Record<string, string> = {
  txt: 'text/plain',
  text: 'text/plain',
  log: 'text/plain',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  md: 'text/markdown',
  json: 'application/json',
  xml: 'application/xml',
  html: 'text/html',
  htm: 'text/html',
  css: 'text/css',
  js: 'text/javascript',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  srt: 'application/x-subrip',
  vtt: 'text/vtt',
  ics: 'text/calendar',
  rtf: 'application/rtf',
};

/**
 * What a file is, from its first bytes — the client's Content-Type and file name are
 * hints, not the truth (a text file named x.jpg is a text file). Text formats without
 * magic numbers fall back to a UTF-8 check. `size` (when known) lets checks that look
 * at the whole layout (a TGA footer, an ICO directory) use it; the worker re-sniffs the
 * stored file with `tail` (its last bytes) too.
 */
export async function sniffType(head: Buffer, fileName: string, tail?: Buffer): Promise<Sniffed> {
  const clientExt = extensionOf(fileName);
  // Formats file-type does not know, or mistakes for others (a FLI animation's size
  // field can read as an MPEG audio frame sync, a TGA's header as a cursor's).
  const own = sniffImageHeader(head, clientExt, tail);
  if (own) return classify(own.mime, own.ext);
  let ft = head.length > 0 ? await fileTypeFromBuffer(head) : undefined;
  // Weak signatures, checked further: one frame sync is two bytes of chance; a real
  // stream has the next frame where the first one says it ends.
  if (
    ft &&
    (ft.mime === 'audio/mpeg' || ft.mime === 'audio/aac') &&
    !head.subarray(0, 3).equals(Buffer.from('ID3')) &&
    !validMpegAudio(head)
  )
    ft = undefined;
  if (ft && ft.mime === 'image/x-icon' && !validIcon(head)) ft = undefined;
  // file-type calls any XML document application/xml; SVG is the one we must know apart.
  if ((!ft || ft.mime === 'application/xml') && looksLikeSvg(head)) return { mimeType: 'image/svg+xml', extension: 'svg', type: 'file' };
  if (ft) return classify(ft.mime, ft.ext);
  // A TIFF whose first directory lies past the bytes at hand (libtiff writes it after the
  // image data by default): file-type cannot follow the offset, the header is enough.
  if (isTiffHeader(head)) return classify('image/tiff', 'tif');
  if (head.length > 0 && isProbablyText(head)) {
    // Text has no magic number: trust the client's extension only when it names a text format.
    const mimeType = TEXT_EXTENSIONS[clientExt];
    return mimeType ? { mimeType, extension: clientExt, type: 'file' } : { mimeType: 'text/plain', extension: 'txt', type: 'file' };
  }
  return { mimeType: 'application/octet-stream', extension: clientExt, type: 'file' };
}

function classify(mimeType: string, ext: string): Sniffed {
  const kind = mediaKindOf(mimeType);
  return { mimeType, extension: kind?.extension ?? ext, type: kind?.type ?? 'file' };
}

/** Lower-case extension of a client file name, reduced to a-z0-9 (max 10), or ''. */
export function extensionOf(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return '';
  const ext = base.slice(dot + 1).toLowerCase();
  return /^[a-z0-9]{1,10}$/.test(ext) ? ext : '';
}

function isTiffHeader(head: Buffer): boolean {
  if (head.length < 8) return false;
  const le = head[0] === 0x49 && head[1] === 0x49;
  const be = head[0] === 0x4d && head[1] === 0x4d;
  if (!le && !be) return false;
  const version = le ? head.readUInt16LE(2) : head.readUInt16BE(2);
  if (version === 42) return (le ? head.readUInt32LE(4) : head.readUInt32BE(4)) >= 8;
  return version === 43 && head.length >= 16;
}

function looksLikeSvg(head: Buffer): boolean {
  const s = head
    .toString('utf8', 0, Math.min(head.length, 1024))
    .replace(/^\uFEFF/, '')
    .trimStart();
  return /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(s);
}

function isProbablyText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  // A truncated multi-byte sequence at the cut-off is fine; anything else invalid is not text.
  const s = new TextDecoder('utf-8', { fatal: false }).decode(head);
  const bad = (s.match(/\uFFFD/g) ?? []).length;
  return bad <= 1;
}
