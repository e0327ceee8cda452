import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { fileChunks } from '../lib/payload.js';
import { InspectStream } from '../../shared/upload/inspect-stream.js';
const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
function t(label: string, fn: () => void | Promise<void>) {
  return (async () => { const c0 = process.cpuUsage(); const t0 = performance.now(); await fn(); const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(c0); console.log(`${label.padEnd(50)} ${(SIZE / MiB / s).toFixed(0).padStart(6)} MiB/s  cpu ${( (c.user + c.system) / 1e6).toFixed(2)} s wall ${s.toFixed(2)}`); })();
}
await t('iterate generator 64K', () => { for (const _c of fileChunks(SIZE, 1)) { /* */ } });
await t('sha256 64K chunks', () => { const h = createHash('sha256'); for (const c of fileChunks(SIZE, 1)) h.update(c); h.digest(); });
await t('sha256 16K chunks', () => { const h = createHash('sha256'); for (const c of fileChunks(SIZE, 1, 16384)) h.update(c); h.digest(); });
await t('InspectStream -> null (64K)', async () => { await pipeline(Readable.from(fileChunks(SIZE, 1)), new InspectStream(), new Writable({ write(_c, _e, cb) { cb(); } })); });
await t('InspectStream -> null (16K)', async () => { await pipeline(Readable.from(fileChunks(SIZE, 1, 16384)), new InspectStream(), new Writable({ write(_c, _e, cb) { cb(); } })); });
for (const chunk of [16384, 65536]) {
  await t(`busboy parse only (${chunk / 1024}K input chunks)`, () => new Promise<void>((resolve, reject) => {
    const b = 'x'.repeat(30);
    const bb = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${b}` } });
    let n = 0; const sizes = new Map<number, number>();
    bb.on('file', (_f, s) => { s.on('data', (d: Buffer) => { n += d.length; sizes.set(d.length, (sizes.get(d.length) ?? 0) + 1); }); });
    bb.on('close', () => { if (n !== SIZE) reject(new Error(`got ${n}`)); else { console.log('   part chunk sizes', [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 4)); resolve(); } });
    bb.on('error', reject);
    function* body() { yield Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`); yield* fileChunks(SIZE, 1, chunk); yield Buffer.from(`\r\n--${b}--\r\n`); }
    Readable.from(body()).pipe(bb);
  }));
}
await t('busboy parse + InspectStream (64K input)', () => new Promise<void>((resolve, reject) => {
  const b = 'x'.repeat(30);
  const bb = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${b}` } });
  bb.on('file', (_f, s) => { void pipeline(s, new InspectStream(), new Writable({ write(_c, _e, cb) { cb(); } })).then(() => undefined, reject); });
  bb.on('close', () => setTimeout(resolve, 10));
  function* body() { yield Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`); yield* fileChunks(SIZE, 1); yield Buffer.from(`\r\n--${b}--\r\n`); }
  Readable.from(body()).pipe(bb);
}));
