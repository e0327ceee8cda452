import { applyMappings as mapFields } from '../../shared/metadata/field-mappings.js';
import type { IngestStep } from './step.js';

/**
 * The mapped fields from `ctx.metadata` with the current mappings, and the version they
 * came from: a resource with an older version is what a bulk revert touches. A `no_exif`
 * resource gets empty fields, recorded with the current version all the same.
 */
export const applyMappings: IngestStep = {
  name: 'apply-mappings',
  async run(ctx) {
    const mappings = await ctx.catalog.mappings.get();
    const { fields, warnings } = mapFields(mappings.fields, ctx.metadata);
    ctx.patch.fields = fields;
    ctx.patch.mappingsVersion = mappings.version;
    ctx.warnings.push(...warnings);
  },
};
