import fs from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsObjectStore } from '../../shared/storage/fs-store.js';
import { fileChunks } from '../lib/payload.js';
const MiB = 1024 * 1024;
const N = Number(process.env.N ?? 16), SIZE = Number(process.env.MIB ?? 256) * MiB;
for (const chunk of (process.env.CHUNKS ?? '16384,65536,1048576').split(',').map(Number)) {
  for (let rep = 0; rep < 2; rep++) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fsw-'));
    const store = new FsObjectStore(dir);
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => store.put(`b/${i}`, Readable.from(fileChunks(SIZE, i, chunk)))));
    const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(c0);
    console.log(`direct ${N}x${SIZE / MiB}MiB chunk ${chunk / 1024}K: ${(N * SIZE / MiB / s).toFixed(0)} MiB/s, wall ${s.toFixed(2)} cpu user ${(c.user / 1e6).toFixed(1)} sys ${(c.system / 1e6).toFixed(1)}`);
    await fs.rm(dir, { recursive: true }); execFileSync('sync');
  }
}
