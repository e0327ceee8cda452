import { UnreadableFileError } from '../../shared/errors.js';
import { ObjectNotFoundError } from '../../shared/storage/object-store.js';
import type { IngestStep } from './step.js';

/** The original is in storage with the size the upload counted. */
export const verifyStored: IngestStep = {
  name: 'verify-stored',
  async run(ctx) {
    const { record } = ctx;
    let size: number;
    try {
      size = (await ctx.store.head(record.storageKey)).size;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw new UnreadableFileError(
          `The stored original of resource ${record.id} is missing (${record.storageKey}); upload the file again.`,
        );
      }
      throw err;
    }
    if (size !== record.size) {
      throw new UnreadableFileError(`The stored original has ${size} bytes but ${record.size} were uploaded; upload the file again.`);
    }
  },
};
