import { keyPrefix } from '../redis.js';

/** Every catalog key, in one place. All share the `{prefix}` hash tag (one Cluster slot). */
export function catalogKeys(prefix: string) {
  const p = keyPrefix(prefix);
  return {
    librarySeq: `${p}:lib:seq`,
    library: (id: number) => `${p}:lib:${id}`,
    libraryNames: `${p}:lib:names`,
    libraries: `${p}:libs`,
    resourceSeq: `${p}:res:seq`,
    resource: (id: number) => `${p}:res:${id}`,
    libraryResources: (libraryId: number) => `${p}:lib:${libraryId}:res`,
    allResources: `${p}:res:all`,
    /** A direct upload to S3 waiting for its completion (shared/services/pending-direct-uploads.ts). */
    directUpload: (resourceId: number) => `${p}:direct:${resourceId}`,
  };
}
export type CatalogKeys = ReturnType<typeof catalogKeys>;
