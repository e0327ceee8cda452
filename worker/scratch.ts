import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ObjectStore } from '../shared/storage/object-store.js';

/**
 * Local scratch space of this worker process: originals downloaded from S3, fallback
 * decodes. Jobs remove what they make in `finally` — but a worker killed mid-job
 * (SIGKILL, OOM) runs no `finally`, and each such kill would leave a whole original on
 * local disk for good. So every process works in a folder named after its pid, and a
 * starting worker removes the folders of processes that no longer exist.
 */
const PREFIX = 'media-ingest-worker-';

let root: Promise<string> | undefined;

/** This process's scratch folder (created on first use). */
export function scratchRoot(): Promise<string> {
  root ??= (async () => {
    const dir = path.join(os.tmpdir(), `${PREFIX}${process.pid}`);
    await fs.mkdir(dir, { recursive: true });
    return dir;
  })();
  return root;
}

/** A fresh folder for one job's files, inside this process's scratch folder. */
export async function scratchDir(label: string): Promise<string> {
  return fs.mkdtemp(path.join(await scratchRoot(), `${label.replace(/[^\w-]/g, '_')}-`));
}

/**
 * A local copy of a stored object, in a fresh folder of this process's scratch space,
 * keeping the key's file name: exiftool and libvips take the extension as a hint where
 * the bytes are ambiguous. The caller removes the folder (`path.dirname(file)`).
 */
export async function downloadToScratch(store: ObjectStore, key: string, label: string): Promise<string> {
  const dir = await scratchDir(label);
  const file = path.join(dir, path.basename(key));
  await pipeline(await store.get(key), createWriteStream(file));
  return file;
}

/**
 * Removes the scratch folders of dead worker processes on this machine; returns how
 * many. A live pid keeps its folder (even if the pid was reused by another process:
 * keeping is the safe mistake). Our own pid's folder predates us when a container
 * restarts with the same pid and the same /tmp, so it goes too — we have made nothing yet.
 */
export async function removeStaleScratch(): Promise<number> {
  const entries = await fs.readdir(os.tmpdir()).catch(() => [] as string[]);
  let removed = 0;
  for (const name of entries) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (pid !== process.pid && isAlive(pid)) continue;
    if (pid === process.pid && root) continue;
    await fs.rm(path.join(os.tmpdir(), name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
