import fs from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsObjectStore } from '../../shared/storage/fs-store.js';
import { fileChunks } from '../lib/payload.js';
const MiB = 1024 * 1024;
const N = 16, SIZE = 256 * MiB;
for (const gap of (process.env.GAPS ?? '0,0,10,0,10,0,3,3').split(',').map(Number)) {
  await new Promise((r) => setTimeout(r, gap * 1000));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fsw-'));
  const store = new FsObjectStore(dir);
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => store.put(`b/${i}`, Readable.from(fileChunks(SIZE, i)))));
  const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(c0);
  console.log(`gap ${gap}s: ${(N * SIZE / MiB / s).toFixed(0)} MiB/s, wall ${s.toFixed(2)} cpu user ${(c.user / 1e6).toFixed(1)} sys ${(c.system / 1e6).toFixed(1)}`);
  await fs.rm(dir, { recursive: true }); execFileSync('sync');
}
