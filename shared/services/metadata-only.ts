import type { Catalog } from '../catalog/catalog.js';
import { newResourceRecord } from '../catalog/new-record.js';
import type { Library, ResourceRecord } from '../model.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { UploadFields } from '../upload/upload-fields.js';
import { writeRecordCopy } from './record-copy.js';

/**
 * A resource with metadata and no file yet: ResourceSpace's `create_resource` before
 * its `upload_multipart`, an IBM Connections Atom entry sent without binary data. It is
 * `ready` (there is nothing to process), holds no checksum claim and no object but its
 * JSON copy. Its first file arrives as a replacement (`UploadService.replace`) and is
 * file version 2, so de-duplication treats it as the replaced file of a resource the
 * client chose, never as a new upload to be removed.
 */
export async function createMetadataOnlyResource(
  deps: { catalog: Catalog; store: ObjectStore },
  library: Library,
  fields: UploadFields,
  opts: { fileName: string; source: string },
): Promise<ResourceRecord> {
  const id = await deps.catalog.allocateResourceId();
  const record = newResourceRecord({
    id,
    library: library.id,
    fileName: opts.fileName,
    source: opts.source,
    title: fields.title,
    tags: fields.tags,
    visibility: fields.visibility,
    ...(fields.created ? { created: fields.created } : {}),
    ...(fields.modified ? { modified: fields.modified } : {}),
    status: 'ready',
    noExif: fields.noExif,
  });
  await deps.catalog.createResources([record]);
  await writeRecordCopy(deps.store, record, {});
  return record;
}
