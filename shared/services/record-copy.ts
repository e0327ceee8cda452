import type { ResourceRecord } from '../model.js';
import { recordKey } from '../storage/layout.js';
import { ObjectNotFoundError, type ObjectStore } from '../storage/object-store.js';

export interface RecordCopy {
  record: ResourceRecord;
  metadata: Record<string, unknown>;
}

/**
 * The JSON copy of a resource next to its original (see writeRecordCopy), with the full
 * tag set. Undefined when there is none or it is not JSON; storage errors propagate, so
 * an unavailable store is retried rather than taken for "no metadata".
 */
export async function readRecordCopy(store: ObjectStore, id: number): Promise<RecordCopy | undefined> {
  let text: string;
  try {
    const chunks: Buffer[] = [];
    for await (const ch of await store.get(recordKey(id))) chunks.push(ch as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  try {
    const { metadata, ...record } = JSON.parse(text) as ResourceRecord & { metadata?: Record<string, unknown> };
    return { record: record as ResourceRecord, metadata: metadata ?? {} };
  } catch {
    return undefined;
  }
}
