import { randomBytes } from 'node:crypto';

/** The bytes of one file, sent from disk as the body of a request. */
export interface FileBody {
  /** Multipart head: the form fields, then the file part's headers. */
  head: Buffer;
  path: string;
  /** Bytes sent from the file: its size when it was hashed. */
  size: number;
  tail: Buffer;
  contentType: string;
  contentLength: number;
}

/**
 * A `multipart/form-data` body for one file whose length is known up front, so the
 * request carries a Content-Length (no chunked encoding) and the file streams from disk
 * without being held in memory. Fields come before the file part: the server reads a
 * `sha256` field before the bytes and can refuse a duplicate without storing them.
 */
export function fileUploadBody(file: { path: string; name: string; size: number }, fields: [string, string][]): FileBody {
  const boundary = `----media-ingest-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(file.name)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const headBuf = Buffer.from(head, 'utf8');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  return {
    head: headBuf,
    path: file.path,
    size: file.size,
    tail,
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: headBuf.length + file.size + tail.length,
  };
}

/**
 * A name inside a quoted header parameter, escaped as browsers do (WHATWG HTML's
 * multipart/form-data encoding): `"` and line breaks percent-encoded, the rest UTF-8.
 */
function quote(s: string): string {
  return s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
