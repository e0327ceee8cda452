import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageUnavailableError } from '../errors.js';
import { FileSink } from './file-sink.js';
import {
  assertValidKey,
  ObjectNotFoundError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type PutMeta,
  type PutResult,
} from './object-store.js';

/** Suffix of in-progress writes; never listed, renamed into place when complete. */
const TMP_MARK = '.incomplete-';

/**
 * Local-disk store: the zero-setup default. Writes go to a temporary file beside the
 * target and are renamed into place, so a reader never sees half an object and a
 * crashed or aborted write leaves only a `*.incomplete-*` file (removed on abort).
 *
 * A put resolves only once the object is durable, as an object store's PUT does: the
 * file is fsynced before the rename, and the folders whose entries changed (the
 * target's, and any it had to create) after it. Without that, a power cut or kernel
 * crash right after an upload was acknowledged — its record already in Redis's AOF —
 * could leave an empty or missing original behind.
 */
export class FsObjectStore implements ObjectStore {
  readonly driver = 'fs' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private file(key: string): string {
    assertValidKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer, meta: PutMeta = {}): Promise<PutResult> {
    const target = this.file(key);
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    try {
      const dir = path.dirname(target);
      const created = await fs.mkdir(dir, { recursive: true });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      // Written in batches and fsynced before the sink finishes (./file-sink.ts), so the
      // rename below never publishes unwritten bytes.
      const handle = await fs.open(tmp, 'wx').catch((err: unknown) => {
        // As the pipeline would: a source nobody will read is not left waiting.
        source.destroy(err as Error);
        throw err;
      });
      const sink = new FileSink(handle);
      await pipeline(source, sink, meta.signal ? { signal: meta.signal } : {});
      const { size } = await fs.stat(tmp);
      await fs.rename(tmp, target);
      await Promise.all(changedFolders(dir, created).map(syncFolder));
      return { key, size };
    } catch (err) {
      // The write's own error is what the caller gets; removing the partial temp file is best effort.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw translate(err, key);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.file(key);
    // Open first so a missing object is reported here, not as a stream error later.
    const handle = await fs.open(file, 'r').catch((err: unknown) => {
      throw translate(err, key);
    });
    // The stream owns the handle (not a bare fd): it closes it exactly once.
    return createReadStream('', { fd: handle, autoClose: true, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async head(key: string): Promise<ObjectInfo> {
    try {
      const st = await fs.stat(this.file(key));
      if (!st.isFile()) throw new ObjectNotFoundError(key);
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      throw translate(err, key);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await fs.rm(file, { force: true });
    } catch (err) {
      throw translate(err, key);
    }
    // Prune now-empty parent folders up to the root, so deletes leave no litter.
    let dir = path.dirname(file);
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(dir);
      } catch {
        break;
      }
      dir = path.dirname(dir);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the deepest folder the prefix names, then filter by the remainder.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
    yield* this.walk(start, dirKey, prefix);
  }

  async *folders(prefix: string): AsyncIterable<string> {
    const dirKey = prefix.replace(/\/$/, '');
    let entries;
    try {
      entries = await fs.readdir(dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw translate(err, dirKey);
    }
    // Sorted as the prefixes they become ("a-b/" before "a/"), as S3 lists them.
    const folders = entries.filter((e) => e.isDirectory()).map((e) => `${dirKey ? `${dirKey}/` : ''}${e.name}/`);
    yield* folders.sort();
  }

  private async *walk(dir: string, dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw translate(err, dirKey);
    }
    // Key order, as S3 lists: a folder "b" holds keys "b/…", which sort after "b-x".
    const sortName = (e: { name: string; isDirectory(): boolean }) => (e.isDirectory() ? `${e.name}/` : e.name);
    entries.sort((a, b) => (sortName(a) < sortName(b) ? -1 : sortName(a) > sortName(b) ? 1 : 0));
    for (const e of entries) {
      const key = dirKey ? `${dirKey}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(path.join(dir, e.name), key, prefix);
      } else if (e.isFile() && key.startsWith(prefix) && !e.name.includes(TMP_MARK)) {
        const st = await fs.stat(path.join(dir, e.name)).catch(() => undefined);
        if (st) yield { key, size: st.size, lastModified: st.mtime };
      }
    }
  }

  localPath(key: string): string {
    return this.file(key);
  }

  async removeAbandonedWrites(prefix: string, olderThan: Date): Promise<number> {
    // A SIGKILL between opening the temp file and the rename leaves the temp file for good.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
    const entries = await fs.readdir(start, { recursive: true, withFileTypes: true }).catch(() => []);
    let removed = 0;
    for (const e of entries) {
      if (!e.isFile() || !e.name.includes(TMP_MARK)) continue;
      const file = path.join(e.parentPath, e.name);
      const st = await fs.stat(file).catch(() => undefined);
      if (!st || st.mtime >= olderThan) continue;
      await fs.rm(file, { force: true });
      removed++;
    }
    return removed;
  }

  async ping(): Promise<void> {
    try {
      await fs.mkdir(this.root, { recursive: true });
      await fs.access(this.root, fs.constants.W_OK);
    } catch (err) {
      throw new StorageUnavailableError(`${this.root} is not writable (${(err as Error).message})`, { cause: err });
    }
  }
}

/** `dir` and, when mkdir created folders down to it (`created` is the first), every folder that gained an entry. */
function changedFolders(dir: string, created: string | undefined): string[] {
  if (!created) return [dir];
  const folders = [path.dirname(created)];
  for (let d = dir; d.length >= created.length; d = path.dirname(d)) folders.push(d);
  return folders;
}

async function syncFolder(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (err) {
    // Windows cannot open a folder for fsync: there the file's own fsync is all there is.
    if ((err as NodeJS.ErrnoException).code === 'EISDIR' || (err as NodeJS.ErrnoException).code === 'EPERM') return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function translate(err: unknown, key: string): Error {
  if (err instanceof ObjectNotFoundError || err instanceof StorageUnavailableError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return new ObjectNotFoundError(key);
  if (code === 'EEXIST') return new Error(`Cannot store "${key}": a key is both an object and a prefix of other objects.`, { cause: err });
  if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT' || code === 'EIO') {
    return new StorageUnavailableError(`${code} on "${key}"`, { cause: err });
  }
  // Stream errors from the source (client aborts, limit exceeded) pass through unchanged.
  return err instanceof Error ? err : new Error(String(err));
}
