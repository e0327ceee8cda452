import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { describeFsError, FileError } from './errors.js';

/**
 * SHA-256 of a file as a stream (memory stays flat whatever the size). The size is
 * what was actually read, which is what the upload then sends.
 */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      h.update(chunk);
      size += chunk.length;
    }
  } catch (err) {
    throw new FileError(describeFsError(err), { cause: err });
  }
  return { sha256: h.digest('hex'), size };
}
