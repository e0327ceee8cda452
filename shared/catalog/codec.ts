import { ingestJobId } from '../jobs/ingest.js';
import type { Rendition, RenditionFormat, ResourceRecord } from '../model.js';
import { extensionOfFormat } from '../renditions/presets.js';
import { originalKey } from '../storage/layout.js';

/**
 * A resource record in Redis is one string: a JSON object with one-letter field names
 * that leaves out whatever is at its default or can be derived (the job id and storage
 * key from id and file version, the renditions' URLs from their boxes). About 300
 * bytes for a tagged photo instead of ~2 KB as a hash of JSON fields (issue 13: the
 * renditions JSON alone pushed the hash past `hash-max-listpack-value` into Redis'
 * large encoding). Updates are compare-and-set of the whole string (catalog.ts).
 *
 * Fields the table does not know are kept under their own names, so a newer process
 * never loses what it wrote.
 */
const SHORT: Readonly<Record<string, string>> = {
  id: 'i',
  library: 'l',
  fileName: 'f',
  extension: 'x',
  mimeType: 'm',
  size: 'z',
  type: 't',
  source: 'o',
  checksum: 'c',
  width: 'w',
  height: 'h',
  orientation: 'r',
  title: 'T',
  tags: 'g',
  visibility: 'v',
  created: 'd',
  modified: 'u',
  status: 's',
  error: 'e',
  errorCode: 'E',
  fields: 'F',
  warnings: 'W',
  renditions: 'R',
  fileVersion: 'n',
  mappingsVersion: 'M',
  noExif: 'X',
  storageKey: 'k',
  jobId: 'j',
  declaredType: 'D',
  duration: 'y',
  pageCount: 'P',
  media: 'Q',
};
const LONG: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(SHORT).map(([k, v]) => [v, k]));

/** Values left out when a record has them. */
const DEFAULTS: Partial<Record<keyof ResourceRecord, unknown>> = {
  type: 'file',
  source: 'upload',
  visibility: 'private',
  width: null,
  height: null,
  orientation: null,
  title: null,
  error: null,
  errorCode: null,
  declaredType: null,
  duration: null,
  pageCount: null,
  media: null,
  fileVersion: 1,
  mappingsVersion: 0,
  noExif: false,
  extension: '',
};
const EMPTY_LISTS = new Set(['tags', 'warnings', 'renditions']);

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Field names of the default mappings, written as `_` and their index in this list
 * (`N` instead of `F`): ~40 bytes of a tagged photo, and with the renditions' form below
 * what brings its record under 448 bytes, one allocator size class down (issue 13). A
 * field name starts with a letter (shared/metadata/field-mappings.ts), so `_` never
 * collides; not a bare digit, which JSON objects would move to the front. Stored records
 * depend on the order: append only, never reorder or remove.
 */
const FIELD_CODES: readonly string[] = [
  'title',
  'description',
  'tags',
  'creator',
  'copyright',
  'capturedAt',
  'make',
  'model',
  'lens',
  'latitude',
  'longitude',
  'rating',
];
const FIELD_CODE = new Map(FIELD_CODES.map((name, i) => [name, `_${i}`]));

/**
 * Box and format of the default presets (RENDITION_PRESETS' default): a rendition of
 * that name, box and format is written as `index,width,height,size` (index in this
 * table), the rest rebuilt from here. Fixed in the code, not read from the configuration, so changing the
 * presets never changes what a stored record means. Append only.
 */
const BUILT_IN_RENDITIONS: Readonly<Record<string, { box: string; format: RenditionFormat }>> = {
  thumbnail: { box: '200,200', format: 'webp' },
  small: { box: '480,480', format: 'webp' },
  medium: { box: '1024,1024', format: 'webp' },
  large: { box: '2048,2048', format: 'webp' },
};
const BUILT_IN_NAMES = Object.keys(BUILT_IN_RENDITIONS);

export function encodeRecord(rec: ResourceRecord): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (v === undefined) continue;
    if (k in DEFAULTS && DEFAULTS[k as keyof ResourceRecord] === v) continue;
    if (EMPTY_LISTS.has(k) && Array.isArray(v) && v.length === 0) continue;
    if (k === 'fields' && v && typeof v === 'object' && Object.keys(v).length === 0) continue;
    const s = SHORT[k] ?? k;
    switch (k) {
      case 'checksum':
        // 43 characters of base64url instead of 64 of hex.
        if (typeof v === 'string' && SHA256_HEX.test(v)) out[s] = Buffer.from(v, 'hex').toString('base64url');
        else out.C = v;
        break;
      case 'created':
      case 'modified':
        if (k === 'modified' && v === rec.created) break;
        out[s] = typeof v === 'string' && isIsoMillis(v) ? Date.parse(v) : v;
        break;
      case 'jobId':
        if (v !== ingestJobId(rec.id, rec.fileVersion)) out[s] = v;
        break;
      case 'storageKey':
        if (v !== originalKey(rec.id, rec.fileVersion, rec.extension)) out[s] = v;
        break;
      case 'noExif':
        out[s] = v ? 1 : 0;
        break;
      case 'declaredType':
        // Nearly always what the bytes turned out to be.
        out[s] = v === rec.mimeType ? 0 : v;
        break;
      case 'fields': {
        const f = v as Record<string, unknown>;
        if (Object.keys(f).some((name) => name.startsWith('_'))) out[s] = f;
        else out.N = Object.fromEntries(Object.entries(f).map(([name, x]) => [FIELD_CODE.get(name) ?? name, x]));
        break;
      }
      case 'renditions': {
        const compact = compactRenditions(rec.id, v as Rendition[]);
        if (compact !== undefined) out[s] = compact;
        else out.RJ = v;
        break;
      }
      default:
        out[s] = v;
    }
  }
  return JSON.stringify(out);
}

export function decodeRecord(s: string | null | undefined): ResourceRecord | undefined {
  if (!s) return undefined;
  const raw = JSON.parse(s) as Record<string, unknown>;
  if (raw.i === undefined) return undefined;
  const rec: Record<string, unknown> = {
    ...DEFAULTS,
    tags: [],
    warnings: [],
    renditions: [],
    fields: {},
  };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'C') rec.checksum = v;
    else if (k === 'RJ') rec.renditions = v;
    else if (k === 'N')
      rec.fields = Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([code, x]) => [
          (code.startsWith('_') && FIELD_CODES[Number(code.slice(1))]) || code,
          x,
        ]),
      );
    else rec[LONG[k] ?? k] = v;
  }
  const id = rec.id as number;
  if (typeof raw.c === 'string') rec.checksum = Buffer.from(raw.c, 'base64url').toString('hex');
  if (rec.checksum === undefined) rec.checksum = '';
  for (const k of ['created', 'modified'] as const) if (typeof rec[k] === 'number') rec[k] = new Date(rec[k]).toISOString();
  if (rec.modified === undefined) rec.modified = rec.created;
  rec.noExif = rec.noExif === 1 || rec.noExif === true;
  if (rec.declaredType === 0) rec.declaredType = rec.mimeType;
  const fileVersion = rec.fileVersion as number;
  if (rec.jobId === undefined) rec.jobId = ingestJobId(id, fileVersion);
  if (rec.storageKey === undefined) rec.storageKey = originalKey(id, fileVersion, rec.extension as string);
  if (typeof raw.R === 'string') rec.renditions = expandRenditions(id, raw.R);
  return rec as unknown as ResourceRecord;
}

function isIsoMillis(s: string): boolean {
  const t = Date.parse(s);
  return Number.isFinite(t) && new Date(t).toISOString() === s;
}

/**
 * `name,boxWidth,boxHeight,width,height,format,size;…` — the URL is the box's
 * (`/image/{w}x{h}/{id}.{ext}`), so it is rebuilt, not stored; a default preset's box
 * and format are left out too (`index,width,height,size`, BUILT_IN_RENDITIONS).
 * Undefined when a rendition does not fit that form (kept as JSON then).
 */
function compactRenditions(id: number, list: Rendition[]): string | undefined {
  const parts: string[] = [];
  for (const r of list) {
    const m = /^\/image\/(\d+)x(\d+)\/(\d+)\.([a-z0-9]+)$/.exec(r.url);
    if (!m || Number(m[3]) !== id || m[4] !== extensionOfFormat(r.format as RenditionFormat)) return undefined;
    if (/[,;]/.test(r.name) || /[,;]/.test(r.format)) return undefined;
    if (![r.width, r.height, r.size].every((n) => Number.isSafeInteger(n))) return undefined;
    const builtIn = Object.hasOwn(BUILT_IN_RENDITIONS, r.name) ? BUILT_IN_RENDITIONS[r.name] : undefined;
    if (builtIn && builtIn.box === `${m[1]},${m[2]}` && builtIn.format === r.format)
      parts.push([BUILT_IN_NAMES.indexOf(r.name), r.width, r.height, r.size].join(','));
    else parts.push([r.name, m[1], m[2], r.width, r.height, r.format, r.size].join(','));
  }
  return parts.join(';');
}

function expandRenditions(id: number, s: string): Rendition[] {
  if (s === '') return [];
  return s.split(';').map((part) => {
    const cols = part.split(',');
    if (cols.length === 4) {
      cols[0] = BUILT_IN_NAMES[Number(cols[0])]!;
      const builtIn = BUILT_IN_RENDITIONS[cols[0]]!;
      cols.splice(1, 0, ...builtIn.box.split(','));
      cols.splice(5, 0, builtIn.format);
    }
    const [name, bw, bh, w, h, format, size] = cols;
    return {
      name: name!,
      width: Number(w),
      height: Number(h),
      format: format!,
      size: Number(size),
      url: `/image/${bw}x${bh}/${id}.${extensionOfFormat(format as RenditionFormat)}`,
    };
  });
}

/**
 * The layout before issue 13: a hash of flat string fields, lists and objects as JSON.
 * Read by the migration (shared/catalog/migrate.ts) only.
 */
const LEGACY_JSON = new Set(['tags', 'fields', 'renditions', 'warnings']);
const LEGACY_NUMBER = new Set(['id', 'library', 'size', 'fileVersion', 'mappingsVersion', 'width', 'height', 'orientation']);
const LEGACY_NULL = '\u0000';

export function decodeLegacyRecord(h: Record<string, string>): ResourceRecord | undefined {
  if (!h || h.id === undefined) return undefined;
  const out: Record<string, unknown> = { ...DEFAULTS, tags: [], warnings: [], renditions: [], fields: {} };
  for (const [k, v] of Object.entries(h)) {
    if (v === LEGACY_NULL) out[k] = null;
    else if (LEGACY_JSON.has(k)) out[k] = JSON.parse(v);
    else if (LEGACY_NUMBER.has(k)) out[k] = Number(v);
    else if (k === 'noExif') out[k] = v === '1';
    else out[k] = v;
  }
  return out as unknown as ResourceRecord;
}
