/**
 * The one sanitiser for text clients see as a problem `detail` or a resource `error`:
 * decoders (libtiff, libvips, ffmpeg, poppler) put local paths, scratch file names,
 * newlines and pages of warnings into their messages. What a client gets is one line of
 * at most MAX_DETAIL characters that names no server path and no internal file.
 */
export const MAX_DETAIL = 500;

/**
 * Absolute paths at least three folders deep under the roots a server's files live in:
 * data and scratch files always are. URL paths (/v1/…, /image/…) are kept, and so is a
 * short path a client sent and is shown back ("received /etc/passwd").
 */
const ABSOLUTE_PATH =
  /(?:file:\/\/)?(?<![\w/.])\/(?:tmp|var|home|root|usr|opt|srv|mnt|media|data|app|work|private|Users|etc|proc|dev|run|sys|nix|snap|workspace|builds?)(?:\/[^\s'"`,;:()<>[\]{}/]+){2,}\/?/g;
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s'"`,;:()<>]*/g;
/** Storage keys (resources/3f2/17/v1/original.tif, renditions…) and scratch files the worker makes. */
const STORAGE_KEY = /\b(?:resources\/[0-9a-f]{3}|staging|uploads)\/[^\s'"`,;:()<>]+/g;
const INTERNAL_FILE = /\b(?:original|decoded|poster|page|frame|cover|JpgFromRaw|PreviewImage|ThumbnailImage)(?:-\d+)?\.[a-z0-9]{2,5}\b/g;
const SCRATCH_NAME = /\b(?:media-ingest-worker-\d+|mi-[\w-]{6,})\b/g;

export function sanitizeDetail(text: string, max: number = MAX_DETAIL): string {
  let s = String(text)
    .replace(ABSOLUTE_PATH, 'the file')
    .replace(WINDOWS_PATH, 'the file')
    .replace(STORAGE_KEY, 'the file')
    .replace(INTERNAL_FILE, 'the file')
    .replace(SCRATCH_NAME, 'the file')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
  // "the file: the file: bad seek" reads worse than once.
  s = s.replace(/(the file)(?:[:,]? the file)+/g, '$1');
  if (s.length > max) s = `${s.slice(0, max - 1).trimEnd()}…`;
  return s;
}
