/**
 * The "node:http + busboy" baseline of the upload-throughput bench: the least an upload
 * endpoint can do with the project's own pieces — no framework, no auth, no catalog, no
 * queue. Each file part goes through the same InspectStream (count, SHA-256, head) into
 * FsObjectStore.put, and the answer is 202 with the size and checksum. busboy gets the
 * API's buffer sizes (BUSBOY_BUFFERS): the comparison is of what the API adds, not of tuning.
 *
 * Env: PORT (required), BENCH_STORE_DIR (required), BENCH_HASH_THREADS (the API's
 * UPLOAD_HASH_THREADS, so both hash alike; default 0).
 */
import http from 'node:http';
import busboy from 'busboy';
import { BUSBOY_BUFFERS } from '../../api/upload/multipart.js';
import { FsObjectStore } from '../../shared/storage/fs-store.js';
import { HashPool } from '../../shared/upload/hash-pool.js';
import { InspectStream } from '../../shared/upload/inspect-stream.js';

const port = Number(process.env.PORT);
const root = process.env.BENCH_STORE_DIR;
if (!port || !root) throw new Error('PORT and BENCH_STORE_DIR are required');
const store = new FsObjectStore(root);
const hashPool = new HashPool(Number(process.env.BENCH_HASH_THREADS ?? 0));
let nextId = 0;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    return;
  }
  const stored: Promise<{ key: string; size: number; checksum: string }>[] = [];
  const fail = (err: unknown) => {
    if (res.headersSent) return;
    res.writeHead(500, { 'Content-Type': 'text/plain', Connection: 'close' }).end(String(err));
    req.destroy();
  };
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers, ...BUSBOY_BUFFERS });
  } catch (err) {
    res.writeHead(400).end(String(err));
    return;
  }
  bb.on('file', (_field, stream) => {
    const inspect = new InspectStream(Number.MAX_SAFE_INTEGER, hashPool);
    stream.on('error', (err) => inspect.destroy(err));
    stream.pipe(inspect);
    const key = `bench/${++nextId}.bin`;
    const p = store.put(key, inspect).then(() => ({ key, size: inspect.bytes, checksum: inspect.sha256() }));
    p.catch(fail);
    stored.push(p);
  });
  bb.on('error', fail);
  bb.on('close', () => {
    Promise.all(stored).then((files) => {
      res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ files }));
    }, fail);
  });
  req.pipe(bb);
});

server.requestTimeout = 0;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
