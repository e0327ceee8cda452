import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort } from './free-port.js';

export interface S3ServerHandle {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** `abrupt`: cut the connections of requests in flight too, as a crash would. */
  stop(how?: { abrupt?: boolean }): Promise<void>;
}

/**
 * An S3-protocol server (s3rver) on a free port with its own temp directory. Given a
 * `port` and `directory`, it starts there and `stop()` keeps the directory: a fault
 * test stops the server and starts it again where it was, objects and all.
 */
export async function startS3Server(opts: { port?: number; directory?: string } = {}): Promise<S3ServerHandle> {
  const port = opts.port ?? (await freePort());
  const directory = opts.directory ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'mi-s3-')));
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // s3rver's fixed development credentials.
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    async stop(how: { abrupt?: boolean } = {}) {
      const closed = server.close();
      // A crash, not a shutdown: requests in flight are cut off instead of finishing.
      if (how.abrupt) server.httpServer?.closeAllConnections();
      await closed;
      if (!opts.directory) await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
