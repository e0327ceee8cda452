import type { Config } from '../config.js';
import { FsObjectStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-store.js';

/** The configured backend; for S3 the bucket is created when missing. */
export async function createObjectStore(config: Config): Promise<ObjectStore> {
  if (config.storage.driver === 'fs') return new FsObjectStore(config.storage.root);
  const store = new S3ObjectStore(config.storage);
  await store.ensureBucket();
  return store;
}
