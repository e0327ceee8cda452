import type { ResourceRecord } from '../model.js';

/**
 * A resource record is a Redis hash of flat string fields, so the worker can update a
 * few fields atomically without rewriting the record. Lists and objects are JSON.
 */
const JSON_FIELDS = new Set(['tags', 'fields', 'renditions', 'warnings', 'media']);
const NUMBER_FIELDS = new Set(['id', 'library', 'size', 'fileVersion', 'mappingsVersion']);
const NULLABLE_NUMBER_FIELDS = new Set(['width', 'height', 'orientation', 'duration', 'pageCount']);
const BOOLEAN_FIELDS = new Set(['noExif']);
// `media` is JSON that defaults to null (not []) on records written before it existed.
const NULLABLE_STRING_FIELDS = new Set(['title', 'error', 'errorCode', 'declaredType', 'media']);

/** Sentinel for null: a hash cannot hold one, and '' is a legitimate title. */
const NULL = '\u0000';

export function encodeRecord(rec: Partial<ResourceRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (v === undefined) continue;
    if (v === null) out[k] = NULL;
    else if (JSON_FIELDS.has(k)) out[k] = JSON.stringify(v);
    else if (typeof v === 'boolean') out[k] = v ? '1' : '0';
    else out[k] = String(v);
  }
  return out;
}

export function decodeRecord(h: Record<string, string>): ResourceRecord | undefined {
  if (!h || Object.keys(h).length === 0 || h.id === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === NULL) out[k] = null;
    else if (JSON_FIELDS.has(k)) out[k] = JSON.parse(v);
    else if (NUMBER_FIELDS.has(k) || NULLABLE_NUMBER_FIELDS.has(k)) out[k] = Number(v);
    else if (BOOLEAN_FIELDS.has(k)) out[k] = v === '1';
    else out[k] = v;
  }
  for (const k of [...NULLABLE_NUMBER_FIELDS, ...NULLABLE_STRING_FIELDS]) if (!(k in out)) out[k] = null;
  for (const k of JSON_FIELDS) if (!(k in out)) out[k] = k === 'fields' ? {} : [];
  return out as unknown as ResourceRecord;
}
