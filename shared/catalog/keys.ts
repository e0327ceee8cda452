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

/**
 * Security keys (issue 21): scoped API keys and the failed-authentication counters.
 * Small and global, under the same `{prefix}` hash tag as the catalog (one Cluster slot),
 * touched only by single-slot commands.
 */
export function securityKeys(prefix: string) {
  const p = keyPrefix(prefix);
  return {
    /** Hash: SHA-256 of a scoped key (hex) → its record (JSON). The secret itself is never stored. */
    apiKeysByDigest: `${p}:apikeys:digest`,
    /** Hash: key id → SHA-256 of the key, to revoke by id. */
    apiKeyIds: `${p}:apikeys:ids`,
    /** rate-limiter-flexible's key prefix for failed authentications per client address. */
    authFailures: `${p}:authfail`,
  };
}
