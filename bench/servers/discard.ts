/**
 * The transport ceiling of bench upload-single: a node:http server that reads each
 * request body and throws it away — no multipart parsing, no hashing, no write — then
 * answers 202 with the byte count. What one connection from the bench client can carry
 * on this machine bounds every server that must do more with the bytes.
 *
 * Env: PORT (required).
 */
import http from 'node:http';

const port = Number(process.env.PORT);
if (!port) throw new Error('PORT is required');

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    return;
  }
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ bytes })));
});

server.requestTimeout = 0;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
