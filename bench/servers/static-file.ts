/**
 * Baseline of the image-serving bench: a plain static-file server — node:http, one
 * stat, createReadStream piped to the response, Content-Type/Length and an ETag from
 * size and mtime, nothing else. Serves `/<relative path>` under BENCH_STORE_DIR.
 * Env: PORT, BENCH_STORE_DIR.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const port = Number(process.env.PORT);
const root = path.resolve(process.env.BENCH_STORE_DIR!);

http
  .createServer(async (req, res) => {
    if (req.url === '/') return void res.writeHead(200).end('ok');
    const file = path.join(root, decodeURIComponent((req.url ?? '/').split('?')[0]!));
    if (!file.startsWith(root + path.sep)) return void res.writeHead(404).end();
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'image/webp', 'Content-Length': st.size, ETag: `"${st.size}-${st.mtimeMs}"` });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  })
  .listen(port, '127.0.0.1');
