import type { Library } from '../model.js';
import { LIBRARIES_PREFIX, libraryKey } from '../storage/layout.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * Libraries live in Redis, but their settings are also written to object storage (a
 * few hundred bytes each, once), so that `reindex` can restore them — ids, names and
 * dedupe policies — together with the resources that point at them.
 */
export async function writeLibraryCopy(store: ObjectStore, lib: Library): Promise<void> {
  await store.put(libraryKey(lib.id), Buffer.from(JSON.stringify(lib)), { contentType: 'application/json' });
}

/** Every library copy in storage, one at a time (memory stays bounded however many there are). */
export async function* readLibraryCopies(store: ObjectStore): AsyncIterable<Library> {
  for await (const o of store.list(LIBRARIES_PREFIX)) {
    if (!/^libraries\/\d+\.json$/.test(o.key)) continue;
    const lib = parseLibrary(await readText(store, o.key));
    if (lib) yield lib;
  }
}

async function readText(store: ObjectStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const ch of await store.get(key)) chunks.push(ch as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseLibrary(text: string): Library | undefined {
  try {
    const v = JSON.parse(text) as Library;
    return Number.isSafeInteger(v.id) && v.id > 0 && typeof v.name === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
