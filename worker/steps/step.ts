import type { Catalog } from '../../shared/catalog/catalog.js';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { ResourceRecord } from '../../shared/model.js';
import type { ObjectStore } from '../../shared/storage/object-store.js';

/**
 * What the ingest steps share. Each step reads the record and the stored original and
 * adds to `patch` (fields to set on the record) and `metadata` (the full tag set,
 * kept in storage). Steps run in order; a step that throws stops the job.
 */
export interface IngestContext {
  readonly record: ResourceRecord;
  readonly catalog: Catalog;
  readonly config: Config;
  readonly store: ObjectStore;
  readonly logger: Logger;
  /** A local path of the original, downloaded on first use when the store has none. */
  localFile(): Promise<string>;
  readonly patch: Partial<ResourceRecord>;
  readonly metadata: Record<string, unknown>;
  readonly warnings: string[];
  /**
   * End the job after this step, skipping the rest: with `removeResource` the record and
   * its stored objects are deleted (a duplicate); with `error` the job fails with it.
   */
  finish(how: IngestFinish): void;
}

export interface IngestFinish {
  removeResource: boolean;
  error?: Error;
}

export interface IngestStep {
  readonly name: string;
  run(ctx: IngestContext): Promise<void>;
}
