import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A request written by hand, for what fetch will not send: streamed bodies that stop
 * midway, malformed multipart, a client that hangs up. Write errors after the server
 * answered early (413) are expected and ignored; the answer is what counts.
 */
export function rawRequest(
  url: string,
  opts: {
    method?: string;
    headers: Record<string, string | number>;
    chunks: (Buffer | string)[];
    hangUpAfterChunks?: number;
    chunkDelayMs?: number;
  },
): Promise<RawResponse | 'hung-up'> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (opts.hangUpAfterChunks !== undefined) resolve('hung-up');
      else if (!req.writableEnded) resolve({ status: -1, headers: {}, body: String(err) });
      else reject(err);
    });
    void (async () => {
      for (const [i, c] of opts.chunks.entries()) {
        if (opts.hangUpAfterChunks !== undefined && i >= opts.hangUpAfterChunks) {
          req.destroy();
          resolve('hung-up');
          return;
        }
        if (req.destroyed) return;
        const ok = req.write(c);
        if (!ok) await new Promise((r) => req.once('drain', r).once('close', r));
        if (opts.chunkDelayMs) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
      }
      req.end();
    })();
  });
}

/** Multipart pieces: the head of a file part, and the closing boundary. */
export function multipartFileHead(boundary: string, field: string, fileName: string, type = 'application/octet-stream'): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${fileName}"\r\nContent-Type: ${type}\r\n\r\n`;
}
export function multipartEnd(boundary: string): string {
  return `\r\n--${boundary}--\r\n`;
}
