import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort } from './free-port.js';

export interface S3ServerHandle {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

/** An S3-protocol server (s3rver) on a free port with its own temp directory. */
export async function startS3Server(): Promise<S3ServerHandle> {
  const port = await freePort();
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-s3-'));
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // s3rver's fixed development credentials.
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    async stop() {
      await server.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
