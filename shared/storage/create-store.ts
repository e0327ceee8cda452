import type { Config } from '../config.js';
import { FsObjectStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';

/** The configured backend; for S3 the bucket is created when missing. */
export async function createObjectStore(config: Config): Promise<ObjectStore> {
  if (config.storage.driver === 'fs') return new FsObjectStore(config.storage.root);
  // Loaded only when used: the S3 client weighs about 10 MiB of resident memory that a
  // local-disk deployment has no use for.
  const { S3ObjectStore } = await import('./s3-store.js');
  const store = new S3ObjectStore(config.storage);
  await store.ensureBucket();
  return store;
}
