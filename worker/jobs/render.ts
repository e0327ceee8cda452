import fs from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Catalog } from '../../shared/catalog/catalog.js';
import type { Config } from '../../shared/config.js';
import { errorCodeOf, NotFoundError, RETRYABLE } from '../../shared/errors.js';
import { encodeRenderFailure, type RenderPayload } from '../../shared/jobs/render.js';
import type { Logger } from '../../shared/logger.js';
import { effectivePresets, extensionOfFormat, onDemandSpec } from '../../shared/renditions/presets.js';
import { renditionKey } from '../../shared/storage/layout.js';
import type { ObjectStore } from '../../shared/storage/object-store.js';
import { renderOne, sourceSideFor } from '../imaging/render.js';
import { withDecodableSource } from '../imaging/source.js';
import { downloadToScratch } from '../scratch.js';

export interface RenderDeps {
  config: Config;
  catalog: Catalog;
  store: ObjectStore;
  logger: Logger;
}

/**
 * Processor of the `render` job: one size of one file version, rendered straight from
 * the original (shrink-on-load) and stored under the key `/image/{w}x{h}/{id}.{ext}`
 * maps to. The API checked that the size is allowed before adding the job. Idempotent:
 * a re-run overwrites the same key with the same bytes.
 */
export function renderProcessor(deps: RenderDeps) {
  return async (job: Job<RenderPayload>): Promise<void> => {
    const p = job.data;
    try {
      const record = await deps.catalog.getResource(p.resourceId);
      if (!record || record.fileVersion !== p.fileVersion) throw new NotFoundError('resource', p.resourceId);
      const library = await deps.catalog.findLibrary(record.library);
      const spec = onDemandSpec(p.width, p.height, p.format, effectivePresets(library, deps.config.images.presets));
      const local = deps.store.localPath(record.storageKey);
      const file = local ?? (await downloadToScratch(deps.store, record.storageKey, `mi-${job.id}`));
      try {
        const maxSide = sourceSideFor([spec], deps.config.images.maxDimension);
        const source = { mimeType: record.mimeType, duration: record.duration, maxSide };
        const out = await withDecodableSource(file, source, (src) =>
          renderOne(src.input, spec, { maxPixels: deps.config.images.maxPixels }),
        );
        const key = renditionKey(record.id, record.fileVersion, p.width, p.height, extensionOfFormat(p.format));
        await deps.store.put(key, out.data, { contentType: `image/${p.format}` });
      } finally {
        if (!local) await fs.rm(path.dirname(file), { recursive: true, force: true });
      }
    } catch (err) {
      const code = errorCodeOf(err);
      // No retry can fix it (shared/errors.ts RETRYABLE): reported at once, with its code, to every waiting request.
      if (!RETRYABLE[code]) throw new UnrecoverableError(encodeRenderFailure(code, (err as Error).message));
      deps.logger.warn({ err, jobId: job.id, attempt: job.attemptsMade + 1 }, 'render attempt failed');
      throw new Error(encodeRenderFailure(code, (err as Error).message), { cause: err });
    }
  };
}
