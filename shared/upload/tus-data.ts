import type { Config } from '../config.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { S3ObjectStore } from '../storage/s3-store.js';
import { FsTusData } from './tus-fs-data.js';
import { S3TusData } from './tus-s3-data.js';
import type { TusPatch, TusUpload } from './tus-state.js';

/** The TusData of the configured storage driver. */
export function createTusData(config: Config, store: ObjectStore): TusData {
  // The s3 driver's store is always an S3ObjectStore (create-store.ts).
  return config.storage.driver === 's3' ? new S3TusData(store as S3ObjectStore) : new FsTusData(store);
}

/**
 * Where the bytes of unfinished tus uploads live, one implementation per storage driver
 * (`tus-fs-data.ts`: a file appended to; `tus-s3-data.ts`: a multipart upload at the
 * resource's key plus one small object for the bytes past the last whole part). The
 * state in Redis says how far an upload got; these say nothing about offsets.
 */
export interface TusData {
  /** Prepare to write the bytes from `upload.offset` on. */
  open(upload: TusUpload): Promise<TusWriter>;
  /** Remove everything an unfinished upload stored (an S3 multipart upload is aborted). */
  remove(upload: TusUpload): Promise<void>;
}

/** One PATCH's writes. Bytes are durable only once flushed, checkpointed or finished. */
export interface TusWriter {
  write(chunk: Buffer): Promise<void>;
  /**
   * Mid-PATCH durability, where it comes cheap (a part was just uploaded): the offset
   * up to which everything is stored and the state fields to commit with it.
   */
  checkpoint(): Promise<{ offset: number; patch: TusPatch } | undefined>;
  /** Make everything written durable (the PATCH ends short of the length); the fields to commit. */
  flush(): Promise<TusPatch>;
  /** After the commit of a flush or checkpoint: drop what the previous state pointed at. */
  committed(): Promise<void>;
  /** The last byte arrived: the object now exists at `upload.key`. */
  finish(): Promise<void>;
  /** Undo this PATCH's writes since the last commit (checksum mismatch, too many bytes, lost lock). */
  discard(): Promise<void>;
}
