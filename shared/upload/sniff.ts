import { fileTypeFromBuffer } from 'file-type';
import type { ResourceType } from '../model.js';
import { RAW_MIME_TYPES } from '../renditions/formats.js';

export interface Sniffed {
  mimeType: string;
  /** Canonical extension of the sniffed type, or the client's (sanitised) one when unknown. */
  extension: string;
  type: ResourceType;
}

/** Raster formats the worker can measure (and later render). SVG is text and handled apart. */
const IMAGE_MIME = new Set([
  'image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/heic', 'image/heif',
  'image/tiff', 'image/bmp', 'image/jxl', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/jp2',
  ...RAW_MIME_TYPES,
]);

const TEXT_EXTENSIONS: Record<string, string> = {
  txt: 'text/plain', text: 'text/plain', log: 'text/plain', csv: 'text/csv', tsv: 'text/tab-separated-values',
  md: 'text/markdown', json: 'application/json', xml: 'application/xml', html: 'text/html', htm: 'text/html',
  css: 'text/css', js: 'text/javascript', yaml: 'application/yaml', yml: 'application/yaml', srt: 'application/x-subrip',
  vtt: 'text/vtt', ics: 'text/calendar', rtf: 'application/rtf',
};

/**
 * What a file is, from its first bytes — the client's Content-Type and file name are
 * hints, not the truth (a text file named x.jpg is a text file). Text formats without
 * magic numbers fall back to a UTF-8 check.
 */
export async function sniffType(head: Buffer, fileName: string): Promise<Sniffed> {
  const clientExt = extensionOf(fileName);
  const ft = head.length > 0 ? await fileTypeFromBuffer(head) : undefined;
  // file-type calls any XML document application/xml; SVG is the one we must know apart.
  if ((!ft || ft.mime === 'application/xml') && looksLikeSvg(head)) return { mimeType: 'image/svg+xml', extension: 'svg', type: 'file' };
  if (ft) {
    return { mimeType: ft.mime, extension: ft.ext, type: IMAGE_MIME.has(ft.mime) ? 'image' : 'file' };
  }
  if (head.length > 0 && isProbablyText(head)) {
    // Text has no magic number: trust the client's extension only when it names a text format.
    const mimeType = TEXT_EXTENSIONS[clientExt];
    return mimeType ? { mimeType, extension: clientExt, type: 'file' } : { mimeType: 'text/plain', extension: 'txt', type: 'file' };
  }
  return { mimeType: 'application/octet-stream', extension: clientExt, type: 'file' };
}

/** Lower-case extension of a client file name, reduced to a-z0-9 (max 10), or ''. */
export function extensionOf(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return '';
  const ext = base.slice(dot + 1).toLowerCase();
  return /^[a-z0-9]{1,10}$/.test(ext) ? ext : '';
}

function looksLikeSvg(head: Buffer): boolean {
  const s = head.toString('utf8', 0, Math.min(head.length, 1024)).replace(/^\uFEFF/, '').trimStart();
  return /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(s);
}

function isProbablyText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  // A truncated multi-byte sequence at the cut-off is fine; anything else invalid is not text.
  const s = new TextDecoder('utf-8', { fatal: false }).decode(head);
  const bad = (s.match(/\uFFFD/g) ?? []).length;
  return bad <= 1;
}
