import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Config } from '../config.js';
import type { LibrarySource } from '../model.js';
import type { ByteRange, ObjectInfo, ObjectStore, PutMeta, PutResult } from '../storage/object-store.js';
import { ObjectNotFoundError } from '../storage/object-store.js';
import { sourceAccess, type SourceAccess } from './access.js';
import { isInside } from './source.js';

/** Storage keys of originals read in place: `external/{library id}/{key in the source}`. */
export const EXTERNAL_KEY_PREFIX = 'external/';

export function externalKey(libraryId: number, sourceKey: string): string {
  return `${EXTERNAL_KEY_PREFIX}${libraryId}/${sourceKey}`;
}

export function parseExternalKey(key: string): { libraryId: number; sourceKey: string } | undefined {
  const m = /^external\/(\d{1,15})\/(.+)$/s.exec(key);
  return m ? { libraryId: Number(m[1]), sourceKey: m[2]! } : undefined;
}

/**
 * The source-reader seam: the service's own store, except that the original of an
 * external library's resource (key under `external/`) is read from its source — a file
 * of the library's folder or an object of its S3 prefix. Writing or deleting such a key
 * is refused: originals are never changed by the service. Everything a resource makes
 * (renditions, the record copy) lands in the own store as for any upload.
 */
export class ExternalAwareStore implements ObjectStore {
  private readonly sources = new Map<number, Promise<{ source: LibrarySource; access: SourceAccess } | undefined>>();

  constructor(
    private readonly inner: ObjectStore,
    private readonly config: Config,
    private readonly findSource: (libraryId: number) => Promise<LibrarySource | undefined>,
  ) {}

  get driver(): ObjectStore['driver'] {
    return this.inner.driver;
  }

  private async access(key: string): Promise<{ access: SourceAccess; sourceKey: string }> {
    const ext = parseExternalKey(key)!;
    let entry = this.sources.get(ext.libraryId);
    if (!entry) {
      // A library's source never changes, so it is looked up once per process.
      entry = this.findSource(ext.libraryId).then(async (source) =>
        source ? { source, access: await sourceAccess(this.config, source) } : undefined,
      );
      entry.catch(() => this.sources.delete(ext.libraryId));
      this.sources.set(ext.libraryId, entry);
    }
    const found = await entry;
    if (!found) throw new ObjectNotFoundError(key);
    if (found.source.type === 'fs') this.resolved.set(ext.libraryId, found.source.path);
    return { access: found.access, sourceKey: ext.sourceKey };
  }

  put(key: string, body: Readable | Buffer, meta?: PutMeta): Promise<PutResult> {
    if (key.startsWith(EXTERNAL_KEY_PREFIX)) return Promise.reject(new Error('An external original is never written by the service.'));
    return this.inner.put(key, body, meta);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if (!key.startsWith(EXTERNAL_KEY_PREFIX)) return this.inner.get(key, range);
    const { access, sourceKey } = await this.access(key);
    return access.open(sourceKey, range);
  }

  async head(key: string): Promise<ObjectInfo> {
    if (!key.startsWith(EXTERNAL_KEY_PREFIX)) return this.inner.head(key);
    const { access, sourceKey } = await this.access(key);
    const st = await access.stat(sourceKey);
    if (!st) throw new ObjectNotFoundError(key);
    return { key, size: st.size };
  }

  delete(key: string): Promise<void> {
    // Removing a resource removes its objects by prefix, never its original here.
    if (key.startsWith(EXTERNAL_KEY_PREFIX)) return Promise.resolve();
    return this.inner.delete(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  folders(prefix: string): AsyncIterable<string> {
    return this.inner.folders(prefix);
  }

  /**
   * The file in place for an fs source whose library was looked up already (the ingest
   * job's first step does), checked again to lie inside the source; else none, and the
   * caller reads it through `get`.
   */
  localPath(key: string): string | undefined {
    if (!key.startsWith(EXTERNAL_KEY_PREFIX)) return this.inner.localPath(key);
    const ext = parseExternalKey(key);
    const known = ext && this.resolved.get(ext.libraryId);
    if (!ext || !known) return undefined;
    try {
      const real = realpathSync(path.join(known, ext.sourceKey));
      return isInside(known, real) ? real : undefined;
    } catch {
      return undefined;
    }
  }

  /** fs sources' folders by library, once known (for the synchronous localPath). */
  private readonly resolved = new Map<number, string>();

  ping(): Promise<void> {
    return this.inner.ping();
  }
}

/** Wraps a store with the seam; the store's optional parts (multipart, presigning) are passed through. */
export function withExternalSources(
  inner: ObjectStore,
  config: Config,
  findSource: (libraryId: number) => Promise<LibrarySource | undefined>,
): ObjectStore {
  const outer = new ExternalAwareStore(inner, config, findSource);
  return new Proxy(outer, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver) as unknown;
      const v = (inner as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(inner) : v;
    },
  }) as unknown as ObjectStore;
}
