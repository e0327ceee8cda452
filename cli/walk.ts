import fs from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { describeFsError } from './errors.js';

export interface WalkOptions {
  /** Globs a file's path (relative to the folder given) must match; none means every file. */
  include: string[];
  /** Globs that drop files, and whole folders when a folder's own path matches. */
  exclude: string[];
  /** Also take names starting with "." (and walk such folders). @defaultValue false */
  hidden: boolean;
}

export type WalkEntry = { kind: 'file'; path: string; size: number } | { kind: 'error'; path: string; reason: string };

/**
 * Every regular file under `roots`, depth first, one at a time: folders are read
 * through `opendir` (streamed, never a whole listing of a huge folder in memory).
 * Symbolic links are followed, but each folder is entered once — identified by device
 * and inode — so a link loop (or two links to one folder) cannot walk forever or twice.
 * A file named on the command line is taken whatever the globs say, unless excluded.
 *
 * Globs use picomatch: `*.jpg` (no slash) matches the file name at any depth,
 * `raw/**` matches paths under the folder given.
 */
export async function* walk(roots: string[], opts: WalkOptions): AsyncGenerator<WalkEntry> {
  const mk = (globs: string[]) => (globs.length ? picomatch(globs, { dot: true, basename: true }) : undefined);
  const included = mk(opts.include);
  const excluded = mk(opts.exclude);
  const seenDirs = new Set<string>();

  for (const root of roots) {
    let st;
    try {
      st = await fs.stat(root);
    } catch (err) {
      yield { kind: 'error', path: root, reason: describeFsError(err) };
      continue;
    }
    if (st.isFile()) {
      if (!excluded?.(path.basename(root))) yield { kind: 'file', path: root, size: st.size };
      continue;
    }
    if (!st.isDirectory()) {
      yield { kind: 'error', path: root, reason: 'not a regular file or folder' };
      continue;
    }
    // Folders still to read: [absolute path, path relative to root]. Depth-first, so the
    // stack holds one branch of folder names, not the whole tree.
    const stack: [string, string][] = [[root, '']];
    seenDirs.add(`${st.dev}:${st.ino}`);
    while (stack.length) {
      const [dir, rel] = stack.pop()!;
      let handle;
      try {
        handle = await fs.opendir(dir);
      } catch (err) {
        yield { kind: 'error', path: dir, reason: describeFsError(err) };
        continue;
      }
      const subdirs: [string, string][] = [];
      try {
        for await (const e of handle) {
          if (!opts.hidden && e.name.startsWith('.')) continue;
          const abs = path.join(dir, e.name);
          const relPath = rel ? `${rel}/${e.name}` : e.name;
          let isDir = e.isDirectory();
          let isFile = e.isFile();
          let size = -1;
          if (e.isSymbolicLink() || isDir) {
            let target;
            try {
              target = await fs.stat(abs);
            } catch (err) {
              yield {
                kind: 'error',
                path: abs,
                reason: e.isSymbolicLink() ? `broken symbolic link (${describeFsError(err)})` : describeFsError(err),
              };
              continue;
            }
            isDir = target.isDirectory();
            isFile = target.isFile();
            size = target.size;
            if (isDir) {
              const id = `${target.dev}:${target.ino}`;
              if (seenDirs.has(id)) continue;
              if (excluded?.(relPath)) continue;
              seenDirs.add(id);
              subdirs.push([abs, relPath]);
              continue;
            }
          }
          // Sockets, pipes, devices: nothing to upload.
          if (!isFile) continue;
          if (excluded?.(relPath)) continue;
          if (included && !included(relPath)) continue;
          if (size < 0) {
            try {
              size = (await fs.stat(abs)).size;
            } catch (err) {
              yield { kind: 'error', path: abs, reason: describeFsError(err) };
              continue;
            }
          }
          yield { kind: 'file', path: abs, size };
        }
      } catch (err) {
        yield { kind: 'error', path: dir, reason: describeFsError(err) };
      }
      // Reverse, so the pop order follows the listing order.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
  }
}
