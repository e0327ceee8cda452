import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const MiB = 1024 * 1024;

/** Chunk size of generated files: what `fs.createReadStream` hands out by default. */
export const CHUNK_BYTES = 64 * 1024;

/** 8 MiB of random bytes, generated once; every file is a walk over slices of it. */
const POOL = randomBytes(8 * MiB);

/**
 * The bytes of bench file number `seed`, `size` long, lazily as zero-copy slices of the
 * pool. Each chunk starts at a different, unaligned offset (a prime stride from a
 * per-file start), so files differ from each other and do not repeat with a short
 * period; nothing of a file is ever held in memory.
 */
export function* fileChunks(size: number, seed: number, chunkBytes = CHUNK_BYTES): Generator<Buffer> {
  const span = POOL.length - chunkBytes;
  let offset = (seed * 1_048_583) % span;
  for (let sent = 0; sent < size; sent += chunkBytes) {
    const n = Math.min(chunkBytes, size - sent);
    yield POOL.subarray(offset, offset + n);
    offset = (offset + 851_981) % span;
  }
}

export function fileStream(size: number, seed: number): Readable {
  return Readable.from(fileChunks(size, seed), { objectMode: false });
}

export interface UploadAnswer {
  status: number;
  body: string;
}

/**
 * POSTs one generated file as a `multipart/form-data` body with a single file part,
 * streamed with an exact Content-Length (no chunked encoding), on its own connection.
 */
export async function uploadMultipart(
  url: string,
  opts: { size: number; seed: number; fileName: string; headers?: Record<string, string> },
): Promise<UploadAnswer> {
  const boundary = `----mi-bench-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="file"; filename="${opts.fileName}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);

  const req = http.request(url, {
    method: 'POST',
    agent: false,
    headers: {
      ...opts.headers,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Content-Length': String(head.length + opts.size + tail.length),
    },
  });
  const answer = new Promise<UploadAnswer>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body = (body + d).slice(0, 64 * 1024)));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
  });
  answer.catch(() => undefined);

  function* body(): Generator<Buffer> {
    yield head;
    yield* fileChunks(opts.size, opts.seed);
    yield tail;
  }
  try {
    await pipeline(Readable.from(body(), { objectMode: false }), req);
  } catch (err) {
    // The server may answer (and hang up) before taking the whole body: prefer its answer.
    const early = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(r, 1000, undefined))]).catch(() => undefined);
    if (early) return early;
    throw err;
  }
  return answer;
}
