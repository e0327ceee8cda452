import { ingestJobId } from '../jobs/ingest.js';
import type { ResourceRecord } from '../model.js';

/**
 * A resource record with every field at its starting value (file version 1, status
 * `processing`, nothing learned yet), overridden by `init`. The one place that knows
 * what a fresh record holds, whichever path creates it.
 */
export function newResourceRecord(
  init: Pick<ResourceRecord, 'id' | 'library' | 'fileName' | 'source'> & Partial<ResourceRecord>,
): ResourceRecord {
  const now = new Date().toISOString();
  return {
    extension: '',
    mimeType: 'application/octet-stream',
    size: 0,
    type: 'file',
    checksum: '',
    width: null,
    height: null,
    orientation: null,
    duration: null,
    pageCount: null,
    media: null,
    title: null,
    tags: [],
    visibility: 'private',
    created: now,
    modified: now,
    status: 'processing',
    error: null,
    errorCode: null,
    fields: {},
    warnings: [],
    renditions: [],
    fileVersion: 1,
    mappingsVersion: 0,
    noExif: false,
    storageKey: '',
    jobId: ingestJobId(init.id, init.fileVersion ?? 1),
    declaredType: null,
    ...init,
  };
}
