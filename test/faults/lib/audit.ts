import fs from 'node:fs/promises';
import path from 'node:path';
import type { Catalog } from '../../../shared/catalog/catalog.js';
import type { ResourceRecord } from '../../../shared/model.js';
import { recordKey, versionPrefix } from '../../../shared/storage/layout.js';
import type { ObjectStore } from '../../../shared/storage/object-store.js';

/**
 * What a fault test checks after the dust settles, written independently of the orphan
 * sweeper under test: every object in the store belongs to a live record (its current
 * file version, or its JSON copy), and every record's original is in the store.
 */
export interface Audit {
  records: ResourceRecord[];
  /** Object keys no record accounts for. */
  orphans: string[];
  /** Records whose original (or a listed rendition) is not in the store. */
  missing: { id: number; key: string }[];
}

export async function audit(catalog: Catalog, store: ObjectStore): Promise<Audit> {
  const records: ResourceRecord[] = [];
  for (let cursor: string | undefined; ;) {
    const page = await catalog.listResources({ limit: 500, ...(cursor ? { cursor } : {}) });
    records.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  const byId = new Map(records.map((r) => [r.id, r]));
  const keys = new Set<string>();
  const orphans: string[] = [];
  for await (const o of store.list('')) {
    keys.add(o.key);
    if (o.key.startsWith('libraries/')) continue;
    const m = /^resources\/[0-9a-f]{3}\/(\d+)\//.exec(o.key);
    const rec = m ? byId.get(Number(m[1])) : undefined;
    if (!rec || (o.key !== recordKey(rec.id) && !o.key.startsWith(versionPrefix(rec.id, rec.fileVersion)))) orphans.push(o.key);
  }
  const missing: { id: number; key: string }[] = [];
  for (const r of records) {
    if (!keys.has(r.storageKey)) missing.push({ id: r.id, key: r.storageKey });
    for (const rd of r.renditions) {
      const m = /^\/image\/(\d+x\d+)\/\d+\.(\w+)$/.exec(rd.url);
      const key = m ? `${versionPrefix(r.id, r.fileVersion)}image/${m[1]}.${m[2]}` : rd.url;
      if (!keys.has(key)) missing.push({ id: r.id, key });
    }
  }
  return { records, orphans, missing };
}

/** Files an interrupted fs write left beside their target (hidden from `list`). */
export async function incompleteFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.includes('.incomplete-'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** The harness's one polling helper, for the fault tests that import it from here. */
export { sleep, until } from '../../harness/until.js';
