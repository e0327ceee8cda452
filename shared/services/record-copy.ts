import fs from 'node:fs/promises';
import type { ResourceRecord } from '../model.js';
import { recordKey } from '../storage/layout.js';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.js';

/**
 * The stored copy of a resource's record (`resources/<shard>/<id>/record.json`, next to
 * its original): the record with its full metadata tag set, which Redis does not keep.
 * It is what `reindex` rebuilds the catalog from and what a revert re-reads tags from.
 * This module is the one place that writes, reads and validates it.
 */
export interface RecordCopy {
  record: ResourceRecord;
  metadata: Record<string, unknown>;
}

/** Write (or overwrite) the copy of `rec` with its tag set. */
export async function writeRecordCopy(store: ObjectStore, rec: ResourceRecord, metadata: Record<string, unknown>): Promise<void> {
  const body = Buffer.from(JSON.stringify({ ...rec, metadata }));
  await store.put(recordKey(rec.id), body, { contentType: 'application/json' });
}

/**
 * The copy of resource `id`. Undefined when there is none, it is not JSON, or it is not
 * a record of that resource; storage errors propagate, so an unavailable store is
 * retried rather than taken for "no copy".
 */
export async function readRecordCopy(store: ObjectStore, id: number): Promise<RecordCopy | undefined> {
  const key = recordKey(id);
  let text: string | undefined;
  // On the local disk one readFile: a stream per small file costs more than the read
  // (a bulk re-map reads one copy per resource). Any error but "no such file" is left
  // to the store's own read below, which reports it in its words (no server path).
  const local = store.localPath(key);
  if (local) {
    try {
      text = await fs.readFile(local, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    }
  }
  try {
    if (text === undefined) {
      const chunks: Buffer[] = [];
      for await (const ch of await store.get(key)) chunks.push(ch as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    }
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecordOf(parsed, id)) return undefined;
  const { metadata, ...record } = parsed;
  return { record, metadata: isPlainObject(metadata) ? metadata : {} };
}

/** Enough of a record to restore it: its own id, its library, file version and checksum. */
function isRecordOf(v: unknown, id: number): v is ResourceRecord & { metadata?: unknown } {
  if (!isPlainObject(v)) return false;
  return v.id === id && Number.isSafeInteger(v.library) && Number.isSafeInteger(v.fileVersion) && typeof v.checksum === 'string';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
