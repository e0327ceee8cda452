import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { UnreadableFileError } from '../errors.js';
import type { ByteRange } from '../storage/object-store.js';
import type { SourceAccess, SourceEntry } from './access.js';
import { isInside } from './source.js';

/**
 * A folder read in place. The walk is depth-first in byte order of names, one folder
 * listing in memory per level (opendir streams it; sorting needs it whole), so memory
 * grows with the widest folder, not with the number of files. Symlinks are skipped: a
 * link could lead out of EXTERNAL_ROOTS.
 */
export class FsSource implements SourceAccess {
  constructor(private readonly root: string) {}

  list(after: string): AsyncIterable<SourceEntry> {
    return this.walk('', after === '' ? [] : after.split('/'));
  }

  private async *walk(rel: string, resume: string[]): AsyncGenerator<SourceEntry> {
    const dir = await fs.opendir(path.join(this.root, rel));
    const names: string[] = [];
    for await (const d of dir) {
      if (!d.isSymbolicLink()) names.push(d.name);
    }
    names.sort(byteOrder);
    const [first, ...rest] = resume;
    for (const name of names) {
      if (first !== undefined && byteOrder(name, first) < 0) continue;
      const key = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(this.root, key)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        // Resume inside the folder the cursor points into; every later one from its start.
        yield* this.walk(key, name === first ? rest : []);
      } else if (!st.isSymbolicLink() && name !== first) {
        // Sockets, pipes and devices are listed too: their resource fails with the reason.
        yield { key, size: st.size, stamp: `${st.size}:${Math.floor(st.mtimeMs)}` };
      }
    }
  }

  async stat(key: string): Promise<SourceEntry | undefined> {
    const file = await this.resolve(key).catch(() => undefined);
    if (!file) return undefined;
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isFile())
      throw new UnreadableFileError(
        `The source entry ${JSON.stringify(key)} is not a regular file (${st.isSocket() ? 'a socket' : st.isFIFO() ? 'a pipe' : 'a device or folder'}); only regular files are read.`,
      );
    return { key, size: st.size, stamp: `${st.size}:${Math.floor(st.mtimeMs)}` };
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const file = await this.resolve(key);
    // Opened before it is returned, so an unreadable file fails here with its reason.
    const fh = await fs.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new UnreadableFileError(
        `The source file ${JSON.stringify(key)} cannot be read (${err.code ?? 'error'}); check its permissions.`,
      );
    });
    return fh.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async localPath(key: string): Promise<string | undefined> {
    const file = await this.resolve(key);
    await fs.access(file, fs.constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new UnreadableFileError(
        `The source file ${JSON.stringify(key)} cannot be read (${err.code ?? 'error'}); check its permissions.`,
      );
    });
    return file;
  }

  /** The file's real path, refused when a link swapped in since the scan leads out of the source. */
  private async resolve(key: string): Promise<string> {
    if (key.split('/').some((s) => s === '' || s === '.' || s === '..'))
      throw new UnreadableFileError(`Bad source key ${JSON.stringify(key)}.`);
    const real = await fs.realpath(path.join(this.root, key)).catch((err: NodeJS.ErrnoException) => {
      throw new UnreadableFileError(`The source file ${JSON.stringify(key)} is gone or cannot be reached (${err.code ?? 'error'}).`);
    });
    if (!isInside(this.root, real))
      throw new UnreadableFileError(
        `The source file ${JSON.stringify(key)} leads out of the library's folder (a symlink); it is not read.`,
      );
    return real;
  }
}

/** UTF-16 code unit order is not byte order; compare as S3 does (UTF-8 bytes). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
