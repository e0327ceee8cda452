/**
 * Turning exiftool's `-G -n` values into the normalised values of mapped fields. The
 * stored tag set keeps exiftool's own form; only mapped fields are normalised, so a
 * mapping change can always be recomputed from the stored tags.
 */

export type Tags = Readonly<Record<string, unknown>>;

/** Text: numbers become strings, lists join with ", ", NULs go, blank means absent. */
export function toText(v: unknown): string | undefined {
  if (Array.isArray(v)) {
    const parts = v.map(toText).filter((s): s is string => s !== undefined);
    return parts.length ? parts.join(', ') : undefined;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return undefined;
  // IPTC and EXIF pad with spaces and NULs ("OLYMPUS DIGITAL CAMERA      ").
  const s = v.replaceAll('\u0000', '').trim();
  return s === '' ? undefined : s;
}

/** A list of distinct non-blank strings; a single value is a list of one. */
export function toList(v: unknown): string[] | undefined {
  const items = (Array.isArray(v) ? v : [v]).map(toText).filter((s): s is string => s !== undefined);
  const out = [...new Set(items)];
  return out.length ? out : undefined;
}

/** A finite number; numeric strings count (exiftool -n leaves some as text). */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  return undefined;
}

export function toLatitude(v: unknown): number | undefined {
  const n = toNumber(v);
  return n !== undefined && n >= -90 && n <= 90 ? round(n, 7) : undefined;
}

export function toLongitude(v: unknown): number | undefined {
  const n = toNumber(v);
  return n !== undefined && n >= -180 && n <= 180 ? round(n, 7) : undefined;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const DATE_TIME = /^(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Where the UTC offset of a date tag lives when the tag itself has none: EXIF 2.31
 * stores it in a separate tag per date.
 */
const OFFSET_TAGS: Record<string, string> = {
  'EXIF:DateTimeOriginal': 'EXIF:OffsetTimeOriginal',
  'EXIF:CreateDate': 'EXIF:OffsetTimeDigitized',
  'EXIF:ModifyDate': 'EXIF:OffsetTime',
};

/** QuickTime stores these in UTC by specification; exiftool prints them without a zone. */
const UTC_TAGS = /^QuickTime:(CreateDate|ModifyDate|TrackCreateDate|TrackModifyDate|MediaCreateDate|MediaModifyDate)$/;

/**
 * An ISO 8601 date from exiftool's `YYYY:MM:DD HH:MM:SS[.ss][±HH:MM]`. The offset is
 * kept when the value has one, taken from the matching EXIF OffsetTime* tag, or inferred
 * from the GPS timestamp (UTC) when the camera's clock and the GPS fix agree to within a
 * quarter hour; with none of these the result has no offset (local time, zone unknown).
 * Impossible dates ("0000:00:00 00:00:00", text) are not dates.
 */
export function toDate(tag: string, v: unknown, tags: Tags): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = DATE_TIME.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  const date = `${y}-${mo}-${d}`;
  if (h === undefined) return date;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return undefined;
  const local = `${date}T${h}:${mi}:${s ?? '00'}${frac ?? ''}`;
  const offset = zone ? normaliseZone(zone) : (offsetTag(tag, tags) ?? (UTC_TAGS.test(tag) ? 'Z' : gpsOffset(local, tags)));
  return offset === undefined ? local : `${local}${offset}`;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function normaliseZone(z: string): string | undefined {
  if (z === 'Z') return 'Z';
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(z);
  if (!m || Number(m[2]) > 14 || Number(m[3]) > 59) return undefined;
  return `${m[1]}${m[2]}:${m[3]}`;
}

function offsetTag(tag: string, tags: Tags): string | undefined {
  const name = OFFSET_TAGS[tag];
  const v = name ? tags[name] : undefined;
  return typeof v === 'string' ? normaliseZone(v.trim()) : undefined;
}

/**
 * Offset = camera clock − GPS (UTC) clock, rounded to a quarter hour (the granularity
 * of real zones). Only when the two clocks land within 5 minutes of such a boundary: a
 * camera clock set carelessly says nothing about the zone.
 */
function gpsOffset(local: string, tags: Tags): string | undefined {
  const gps = tags['Composite:GPSDateTime'];
  if (typeof gps !== 'string') return undefined;
  const g = DATE_TIME.exec(gps.trim());
  if (!g || g[4] === undefined) return undefined;
  const gpsMs = Date.UTC(Number(g[1]), Number(g[2]) - 1, Number(g[3]), Number(g[4]), Number(g[5]), Number(g[6] ?? 0));
  const localMs = Date.parse(`${local.slice(0, 19)}Z`);
  if (!Number.isFinite(gpsMs) || !Number.isFinite(localMs)) return undefined;
  const quarter = 15 * 60_000;
  const diff = localMs - gpsMs;
  const rounded = Math.round(diff / quarter) * quarter;
  if (Math.abs(diff - rounded) > 5 * 60_000 || Math.abs(rounded) > 14 * 3_600_000) return undefined;
  const minutes = Math.abs(rounded) / 60_000;
  const sign = rounded < 0 ? '-' : '+';
  return `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
