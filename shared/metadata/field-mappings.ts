import { InvalidRequestError } from '../errors.js';
import { toDate, toLatitude, toList, toLongitude, toNumber, toText, type Tags } from './normalise.js';

/**
 * Field mappings (docs/architecture.md, "Domain"): each resource field is fed by an ordered list of
 * metadata tags, and the first tag present with a usable value wins. The values are
 * normalised by the field's type.
 */
export type FieldType = 'text' | 'list' | 'date' | 'number' | 'integer' | 'latitude' | 'longitude';
export const FIELD_TYPES: readonly FieldType[] = ['text', 'list', 'date', 'number', 'integer', 'latitude', 'longitude'];

export interface FieldMapping {
  tags: string[];
  type: FieldType;
}

export type FieldMappings = Record<string, FieldMapping>;

/**
 * The defaults. Where the Metadata Working Group guidelines rank EXIF, IPTC and XMP
 * (description, keywords, creator, copyright), their order is used — MWG.jpg in the
 * shared fixtures is the test of it. PDF and QuickTime tags follow for documents and
 * videos.
 */
export const DEFAULT_MAPPINGS: FieldMappings = {
  title: { type: 'text', tags: ['XMP:Title', 'IPTC:ObjectName', 'PDF:Title', 'QuickTime:Title'] },
  description: {
    type: 'text',
    tags: ['EXIF:ImageDescription', 'XMP:Description', 'IPTC:Caption-Abstract', 'PNG:Description', 'PDF:Subject', 'QuickTime:Description'],
  },
  tags: { type: 'list', tags: ['XMP:Subject', 'IPTC:Keywords', 'PDF:Keywords', 'QuickTime:Keywords'] },
  creator: { type: 'text', tags: ['EXIF:Artist', 'XMP:Creator', 'IPTC:By-line', 'PDF:Author', 'QuickTime:Author'] },
  copyright: { type: 'text', tags: ['EXIF:Copyright', 'XMP:Rights', 'IPTC:CopyrightNotice', 'PNG:Copyright'] },
  capturedAt: {
    type: 'date',
    tags: [
      'EXIF:DateTimeOriginal',
      'XMP:DateTimeOriginal',
      'Composite:DateTimeCreated',
      'XMP:DateCreated',
      'EXIF:CreateDate',
      'QuickTime:CreationDate',
      'QuickTime:CreateDate',
      'PDF:CreateDate',
    ],
  },
  make: { type: 'text', tags: ['EXIF:Make', 'QuickTime:Make', 'XMP:Make'] },
  model: { type: 'text', tags: ['EXIF:Model', 'QuickTime:Model', 'XMP:Model'] },
  lens: { type: 'text', tags: ['EXIF:LensModel', 'XMP:LensModel', 'XMP:Lens', 'Composite:LensID'] },
  latitude: { type: 'latitude', tags: ['Composite:GPSLatitude', 'XMP:GPSLatitude'] },
  longitude: { type: 'longitude', tags: ['Composite:GPSLongitude', 'XMP:GPSLongitude'] },
  rating: { type: 'integer', tags: ['XMP:Rating', 'EXIF:Rating'] },
};

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** `Group:Tag` as exiftool prints it with -G (family 0 groups: EXIF, ICC_Profile, …). */
const TAG_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}:[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MAX_FIELDS = 100;
const MAX_TAGS = 50;

/**
 * Validates a mappings document from a client:
 * `{"fields": {"title": ["XMP:Title", "IPTC:ObjectName"], "shotAt": {"tags": ["EXIF:DateTimeOriginal"], "type": "date"}}}`.
 * A bare list takes the type of the default field of that name, else `text`. Every
 * problem is reported, each naming its entry.
 */
export function parseMappingsDocument(body: unknown): FieldMappings {
  const problems: string[] = [];
  const fields = (body as { fields?: unknown } | null)?.fields;
  if (
    typeof body !== 'object' ||
    body === null ||
    Array.isArray(body) ||
    typeof fields !== 'object' ||
    fields === null ||
    Array.isArray(fields)
  ) {
    throw new InvalidRequestError('Expected a JSON object {"fields": {"<field>": ["Group:Tag", …]}} but received something else.');
  }
  const extra = Object.keys(body).filter((k) => k !== 'fields' && k !== 'version');
  if (extra.length)
    problems.push(
      `Unknown member${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}: only "fields" (and "version") are accepted.`,
    );
  const entries = Object.entries(fields as Record<string, unknown>);
  if (entries.length > MAX_FIELDS) problems.push(`Expected at most ${MAX_FIELDS} fields but received ${entries.length}.`);
  const out: FieldMappings = {};
  for (const [name, raw] of entries) {
    const at = `fields.${name}`;
    if (!FIELD_NAME.test(name)) {
      problems.push(`${at}: expected a field name of 1-64 letters, digits or "_", starting with a letter.`);
      continue;
    }
    let tags: unknown;
    let type: unknown = DEFAULT_MAPPINGS[name]?.type ?? 'text';
    if (Array.isArray(raw)) tags = raw;
    else if (typeof raw === 'object' && raw !== null) {
      const r = raw as Record<string, unknown>;
      const unknown = Object.keys(r).filter((k) => k !== 'tags' && k !== 'type');
      if (unknown.length) problems.push(`${at}: unknown member ${JSON.stringify(unknown[0])}; expected "tags" and "type".`);
      tags = r.tags;
      if (r.type !== undefined) type = r.type;
    } else {
      problems.push(`${at}: expected a list of "Group:Tag" names or {"tags": […], "type": "…"} but received ${JSON.stringify(raw)}.`);
      continue;
    }
    if (!FIELD_TYPES.includes(type as FieldType))
      problems.push(`${at}.type: expected one of ${FIELD_TYPES.join(', ')} but received ${JSON.stringify(type)}.`);
    if (!Array.isArray(tags) || tags.length === 0 || tags.length > MAX_TAGS) {
      problems.push(`${at}.tags: expected a list of 1-${MAX_TAGS} "Group:Tag" names but received ${JSON.stringify(tags)?.slice(0, 80)}.`);
      continue;
    }
    tags.forEach((t, i) => {
      if (typeof t !== 'string' || !TAG_NAME.test(t)) {
        problems.push(
          `${at}.tags[${i}]: expected "Group:Tag" as exiftool prints it with -G (e.g. "XMP:Title") but received ${JSON.stringify(t)?.slice(0, 80)}.`,
        );
      }
    });
    out[name] = { tags: [...(tags as string[])], type: type as FieldType };
  }
  if (problems.length) throw new InvalidRequestError(problems.join(' '), { problems });
  return out;
}

export interface MappedFields {
  fields: Record<string, unknown>;
  warnings: string[];
}

/** Computes the mapped fields from a resource's stored tags. Pure: no I/O, no exiftool. */
export function applyMappings(mappings: FieldMappings, tags: Tags): MappedFields {
  const fields: Record<string, unknown> = {};
  const warnings: string[] = [];
  for (const [name, m] of Object.entries(mappings)) {
    for (const tag of m.tags) {
      const raw = tags[tag];
      if (raw === undefined || raw === null || raw === '') continue;
      const v = convert(m.type, tag, raw, tags);
      if (v !== undefined) {
        fields[name] = v;
        break;
      }
      warnings.push(`${tag} is not a usable ${m.type} for field "${name}" (${JSON.stringify(raw).slice(0, 60)}); the next tag was tried.`);
    }
  }
  // 0,0 ("null island") is what a phone writes when it had no fix: no location.
  const lat = Object.entries(mappings).filter(([n, m]) => m.type === 'latitude' && fields[n] !== undefined);
  const lon = Object.entries(mappings).filter(([n, m]) => m.type === 'longitude' && fields[n] !== undefined);
  if (lat.length && lon.length && [...lat, ...lon].every(([n]) => fields[n] === 0)) {
    for (const [n] of [...lat, ...lon]) delete fields[n];
  }
  return { fields, warnings };
}

function convert(type: FieldType, tag: string, raw: unknown, tags: Tags): unknown {
  switch (type) {
    case 'text':
      return toText(raw);
    case 'list':
      return toList(raw);
    case 'date':
      return toDate(tag, raw, tags);
    case 'number':
      return toNumber(raw);
    case 'integer': {
      const n = toNumber(raw);
      return n !== undefined && Number.isInteger(n) ? n : undefined;
    }
    case 'latitude':
      return toLatitude(raw);
    case 'longitude':
      return toLongitude(raw);
  }
}
