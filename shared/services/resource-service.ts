import type { Catalog } from '../catalog/catalog.js';
import { NotFoundError } from '../errors.js';
import type { ResourceRecord } from '../model.js';
import type { ObjectStore } from '../storage/object-store.js';
import { resourcePrefix } from '../storage/layout.js';
import { readRecordCopy } from './record-copy.js';

/** Reading and removing resources: the catalog for the record, storage for the rest. */
export class ResourceService {
  constructor(private readonly deps: { catalog: Catalog; store: ObjectStore }) {}

  /**
   * The Redis record (the truth for status), with the full metadata tag set from the
   * JSON copy in storage — Redis keeps only the compact record.
   */
  async getFull(id: number): Promise<{ record: ResourceRecord; metadata: Record<string, unknown> }> {
    const record = await this.deps.catalog.requireResource(id);
    // A processing resource's copy holds no tags yet.
    const metadata = record.status === 'processing' ? {} : ((await readRecordCopy(this.deps.store, id))?.metadata ?? {});
    return { record, metadata };
  }

  /** Removes the record first (nobody sees it any more), then every stored object of it. */
  async delete(id: number): Promise<ResourceRecord> {
    const rec = await this.deps.catalog.deleteResource(id);
    if (!rec) throw new NotFoundError('resource', id);
    await removeResourceObjects(this.deps.store, id);
    return rec;
  }
}

/** Deletes every stored object of a resource (originals of all versions, renditions, the JSON record). */
export async function removeResourceObjects(store: ObjectStore, id: number): Promise<void> {
  const keys: string[] = [];
  for await (const o of store.list(resourcePrefix(id))) keys.push(o.key);
  await Promise.all(keys.map((k) => store.delete(k)));
}
