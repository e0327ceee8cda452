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
    /** A resumable (tus) upload's state: a hash (shared/upload/tus-state.ts). */
    tusUpload: (id: string) => `${p}:tus:${id}`,
    /** Held by the one request writing a tus upload (SET NX with a token). */
    tusLock: (id: string) => `${p}:tus:${id}:lock`,
    /** Open tus uploads scored by when they expire, for the sweep. */
    tusExpiring: `${p}:tus:expiring`,
  };
}
export type CatalogKeys = ReturnType<typeof catalogKeys>;
