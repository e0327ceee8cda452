import type { ResourceType } from '../model.js';
import { RAW_MIME_TYPES } from '../renditions/formats.js';

/**
 * How a stored original is turned into pixels a rendition can be made from. The
 * worker holds one implementation per name (worker/imaging/decoders.ts) and says which
 * external programs each needs; a type whose program is missing becomes `file`.
 * - `sharp`: libvips in sharp reads the original (JPEG, PNG/APNG, GIF, WebP, AVIF).
 * - `tiff`: sharp, and ImageMagick (Debian's libtiff) for layouts sharp's libtiff lacks (old-style JPEG).
 * - `heif`: sharp for AV1, `heif-convert` for the HEVC of phone photos.
 * - `raw-preview`: the JPEG a camera embedded in its RAW file (exiftool).
 * - `magick`: ImageMagick converts formats libvips has no loader for (BMP, ICO, JPEG 2000, TGA, PSD…).
 * - `ffmpeg-image`: ffmpeg's image decoders, for what ImageMagick 6 lacks (QOI, JPEG XL).
 * - `video-frame`: a poster frame from ffmpeg; `audio-cover`: the cover art an audio file carries.
 * - `pdf`: page 1 (or any page) through poppler's pdftoppm; `office`: LibreOffice to PDF, then `pdf`.
 */
export type DecoderName =
  'sharp' | 'tiff' | 'heif' | 'raw-preview' | 'magick' | 'ffmpeg-image' | 'video-frame' | 'audio-cover' | 'pdf' | 'office';

export interface MediaKind {
  type: ResourceType;
  decoder: DecoderName;
  /** Canonical extension, where file-type has none or names it differently. */
  extension?: string;
}

const image = (decoder: DecoderName, extension?: string): MediaKind => ({ type: 'image', decoder, ...(extension ? { extension } : {}) });
const video: MediaKind = { type: 'video', decoder: 'video-frame' };
const audio: MediaKind = { type: 'audio', decoder: 'audio-cover' };
const office: MediaKind = { type: 'document', decoder: 'office' };

/**
 * The one table from a sniffed MIME type to what the resource is and how it is decoded,
 * read by the upload's sniffing (the `type` a client sees at once), the worker's
 * re-sniff, probing and both kinds of render (pre-rendered and on demand). A MIME type
 * not listed here is a `file`: stored and served, never rendered.
 */
export const MEDIA_TYPES: Readonly<Record<string, MediaKind>> = {
  'image/jpeg': image('sharp'),
  'image/png': image('sharp'),
  // Animated PNG: its default image is an ordinary PNG; the first frame is rendered.
  'image/apng': image('sharp', 'png'),
  'image/gif': image('sharp'),
  'image/webp': image('sharp'),
  'image/avif': image('sharp'),
  'image/tiff': image('tiff'),
  'image/heic': image('heif'),
  'image/heif': image('heif'),
  ...Object.fromEntries(RAW_MIME_TYPES.map((m) => [m, image('raw-preview')])),
  'image/bmp': image('magick'),
  'image/x-icon': image('magick', 'ico'),
  'image/vnd.microsoft.icon': image('magick', 'ico'),
  'image/jp2': image('magick'),
  'image/jpx': image('magick'),
  'image/j2c': image('magick'),
  'image/x-tga': image('magick', 'tga'),
  'image/vnd.adobe.photoshop': image('magick', 'psd'),
  'image/x-pcx': image('magick', 'pcx'),
  'image/x-portable-anymap': image('magick', 'pnm'),
  'image/x-portable-bitmap': image('magick', 'pbm'),
  'image/x-portable-graymap': image('magick', 'pgm'),
  'image/x-portable-pixmap': image('magick', 'ppm'),
  'image/x-portable-arbitrarymap': image('magick', 'pam'),
  'image/vnd.ms-dds': image('magick', 'dds'),
  'image/qoi': image('ffmpeg-image', 'qoi'),
  'image/jxl': image('ffmpeg-image'),
  'video/mp4': video,
  'video/x-m4v': video,
  'video/quicktime': video,
  'video/webm': video,
  'video/matroska': video,
  'video/vnd.avi': video,
  'video/mpeg': video,
  'video/mp2t': video,
  'video/x-flv': video,
  'video/3gpp': video,
  'video/3gpp2': video,
  'video/ogg': video,
  'video/x-ms-asf': video,
  'video/x-flic': { type: 'video', decoder: 'video-frame', extension: 'fli' },
  'application/mxf': video,
  'application/ogg': audio,
  'audio/mpeg': audio,
  'audio/mp4': audio,
  'audio/x-m4a': audio,
  'audio/aac': audio,
  'audio/flac': audio,
  'audio/ogg': audio,
  'audio/wav': audio,
  'audio/aiff': audio,
  'audio/x-ms-asf': audio,
  'audio/amr': audio,
  'audio/ape': audio,
  'audio/wavpack': audio,
  'audio/x-musepack': audio,
  'application/pdf': { type: 'document', decoder: 'pdf' },
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': office,
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': office,
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': office,
  'application/vnd.oasis.opendocument.text': office,
  'application/vnd.oasis.opendocument.spreadsheet': office,
  'application/vnd.oasis.opendocument.presentation': office,
};

/** What the table says of a MIME type; unknown types are plain files. */
export function mediaKindOf(mimeType: string): MediaKind | undefined {
  return Object.hasOwn(MEDIA_TYPES, mimeType) ? MEDIA_TYPES[mimeType] : undefined;
}

export function resourceTypeOf(mimeType: string): ResourceType {
  return mediaKindOf(mimeType)?.type ?? 'file';
}

/** Whether a resource gets renditions: images, videos and documents do; audio only when it carries cover art. */
export function hasRenditions(r: { type: ResourceType; media: { coverArt?: boolean } | null }): boolean {
  return r.type === 'image' || r.type === 'video' || r.type === 'document' || (r.type === 'audio' && r.media?.coverArt === true);
}
