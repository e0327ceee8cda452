import { MetadataTimeoutError } from '../../shared/errors.js';
import { tagWarnings } from '../../shared/metadata/tag-warnings.js';
import { exiftool, type ExifToolSettings } from '../exiftool.js';

export interface ReadTags {
  /** Every tag exiftool returned, keyed `Group:Tag`, values in `-n` form. */
  tags: Record<string, unknown>;
  /** From ExifTool:Error / ExifTool:Warning (see tagWarnings). */
  warnings: string[];
  /** Tags whose text was not UTF-8 and was decoded as Windows-1252. */
  redecoded: string[];
}

/**
 * `exiftool -json -G -n` — exactly the form of ../shared/fixtures/MANIFEST.json, so
 * nothing is lost in translation: family-0 group names, numeric values (Orientation 6,
 * signed decimal GPS, ExposureTime 0.004), dates as exiftool prints them.
 * `largefilesupport` lets exiftool read videos over 2 GiB.
 */
const READ_ARGS = ['-G', '-n', '-api', 'largefilesupport=1'];

/**
 * Tags that describe our stored copy, not the uploaded file: where it sits, and the
 * filesystem times and permissions of the copy. They would change on every re-read,
 * making a revert look like a change when nothing changed.
 */
const STORAGE_TAGS = ['File:Directory', 'File:FileAccessDate', 'File:FileInodeChangeDate', 'File:FileModifyDate', 'File:FilePermissions'];

/** Members exiftool-vendored adds to the tag object; ours are the warnings. */
const WRAPPER_MEMBERS = ['SourceFile', 'errors', 'warnings', 'invalidUtf8Bytes'];

/**
 * Reads a file's embedded metadata with the process's one ExifTool. Per-call options,
 * because the instance is shared with other steps:
 * - `useMWG: false` — exiftool-vendored's default loads exiftool's MWG module, which
 *   turns EXIF:Artist into a list split at ";" and adds MWG composites: not what
 *   `exiftool -G -n` reports.
 * - `ignoreMinorErrors: false` — with -m exiftool drops "[minor]" warnings, and those
 *   are part of what the file says (ExifTool:Warning).
 *
 * What exiftool cannot read (unknown type) comes back as tags with ExifTool:Error and
 * a warning; a timeout throws MetadataTimeoutError (retried, then a failure).
 */
export async function readTags(file: string, fileName: string, settings: ExifToolSettings): Promise<ReadTags> {
  let raw: Record<string, unknown>;
  try {
    raw = (await exiftool(settings).readRaw(file, { readArgs: READ_ARGS, useMWG: false, ignoreMinorErrors: false })) as unknown as Record<
      string,
      unknown
    >;
  } catch (err) {
    const msg = (err as Error).message;
    // batch-cluster's TaskTimeoutError: "timeout: waited 30000ms"; it has already replaced the exiftool process.
    if ((err as Error).name === 'TaskTimeoutError' || /^timeout/i.test(msg))
      throw new MetadataTimeoutError(Number(/waited (\d+)/.exec(msg)?.[1] ?? NaN), { cause: err });
    throw err;
  }
  const invalid = raw.invalidUtf8Bytes as Record<string, unknown> | undefined;
  const tags: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (WRAPPER_MEMBERS.includes(k) || STORAGE_TAGS.includes(k)) continue;
    tags[k] = invalid?.[k] !== undefined ? redecode(v, invalid[k]) : v;
  }
  // The stored copy is named original.<ext>; the tag says what the client called it.
  if ('File:FileName' in tags) tags['File:FileName'] = fileName;
  return { tags, warnings: tagWarnings(tags), redecoded: Object.keys(invalid ?? {}) };
}

const latin1 = new TextDecoder('windows-1252');

/**
 * exiftool-vendored replaces malformed UTF-8 with U+FFFD and hands over the original
 * bytes. Malformed UTF-8 in metadata is nearly always legacy 8-bit text (IPTC written
 * without its CodedCharacterSet, old XMP toolkits), and Windows-1252 decodes every byte.
 */
function redecode(value: unknown, bytes: unknown): unknown {
  if (bytes instanceof Uint8Array) return latin1.decode(bytes);
  if (Array.isArray(value) && bytes && typeof bytes === 'object') {
    return value.map((v, i) =>
      (bytes as Record<string, unknown>)[i] !== undefined ? redecode(v, (bytes as Record<string, unknown>)[i]) : v,
    );
  }
  return value;
}
