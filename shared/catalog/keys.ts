import calculateSlot from 'cluster-key-slot';
import { keyPrefix } from '../redis.js';

/**
 * Every Redis key name of the service, in one place.
 *
 * Two kinds, for Redis Cluster (a Lua script or a MULTI may only touch keys of one
 * slot, and a slot lives on one master):
 * - small global keys — sequences, libraries, mappings, batches, labels, API keys,
 *   anything whose size does not grow with the number of resources — share the
 *   `{prefix}` hash tag (one slot). Name them with `globalKey(prefix, name)`.
 * - per-resource keys — records, index entries, the checksum index — live in one of
 *   BUCKETS hash-tag buckets (`bucketKey(prefix, bucket, name)`), so a cluster of N
 *   masters holds ~1/N each. A resource and all its index entries share its bucket
 *   (id mod BUCKETS), so creating or deleting it is one Lua script in one slot.
 *
 * Each bucket's tag is chosen so that bucket b hashes into slots [b·128, b·128+127]:
 * the buckets sit evenly over 0..16383, so any split of the slots into contiguous
 * ranges (what `redis-cli --cluster create` and rebalancing make) gives each master an
 * equal share of the buckets — 43/43/42 with 3 masters.
 */
export const BUCKETS = 128;
const SLOTS = 16_384;

/**
 * Ids per index chunk. An index (all resources, or one library's) is one sorted set
 * per bucket and chunk of ids; a chunk of 16,384 ids holds at most 128 ids of one
 * bucket, so every index key stays within Redis' default `zset-max-listpack-entries`
 * (128): the compact encoding, ~10 bytes an entry instead of ~100.
 */
export const CHUNK_IDS = BUCKETS * 128;

/** Hex digits of a sha256 that name its checksum-index hash (4,096 hashes). */
const SUM_PREFIX_HEX = 3;

const tagCache = new Map<string, readonly string[]>();

/** The hash tag of each bucket for this prefix: `{prefix:xyz}`, found once per prefix. */
export function bucketTags(prefix: string): readonly string[] {
  let tags = tagCache.get(prefix);
  if (tags) return tags;
  const found: string[] = new Array<string>(BUCKETS);
  let left = BUCKETS;
  const width = SLOTS / BUCKETS;
  // ~128 tries a bucket on average: deterministic, a few milliseconds once.
  for (let n = 0; left > 0; n++) {
    const inner = `${prefix}:${n.toString(36)}`;
    const b = Math.floor(calculateSlot(inner) / width);
    if (found[b] === undefined) {
      found[b] = `{${inner}}`;
      left--;
    }
  }
  tags = Object.freeze(found);
  tagCache.set(prefix, tags);
  return tags;
}

/** A small global key: under the `{prefix}` tag, one slot with the other small keys. */
export function globalKey(prefix: string, name: string): string {
  return `${keyPrefix(prefix)}:${name}`;
}

/** A per-resource key in one of the BUCKETS buckets (`bucketOfId`, `bucketOfChecksum`). */
export function bucketKey(prefix: string, bucket: number, name: string): string {
  return `${bucketTags(prefix)[bucket]!}:${name}`;
}

export function bucketOfId(id: number): number {
  return id % BUCKETS;
}

export function bucketOfChecksum(sha: string): number {
  return parseInt(sha.slice(0, SUM_PREFIX_HEX), 16) % BUCKETS;
}

/** Which index: every resource ('a'), or one library's (its id). */
export type IndexScope = 'a' | number;

/** Every catalog key, in one place. */
export function catalogKeys(prefix: string) {
  const g = (name: string) => globalKey(prefix, name);
  return {
    // small global keys
    librarySeq: g('lib:seq'),
    libraryNames: g('lib:names'),
    libraries: g('libs'),
    resourceSeq: g('res:seq'),
    /** Batch ids (bulk reverts and scans; shared/catalog/batches.ts). */
    batchSeq: g('batch:seq'),
    /** Per index scope: the chunk numbers that may hold entries (a superset; empty chunks are skipped). */
    indexChunks: (scope: IndexScope) => g(`ichunks:${scope}`),
    /** The catalog layout version (migrations, shared/catalog/migrate.ts). */
    layout: g('layout'),
    /** A direct upload to S3 waiting for its completion (shared/services/pending-direct-uploads.ts); expires. */
    directUpload: (resourceId: number) => g(`direct:${resourceId}`),
    /** A resumable (tus) upload's state: a hash (shared/upload/tus-state.ts). */
    tusUpload: (id: string) => g(`tus:${id}`),
    /** Held by the one request writing a tus upload (SET NX with a token). */
    tusLock: (id: string) => g(`tus:${id}:lock`),
    /** Open tus uploads scored by when they expire, for the sweep. */
    tusExpiring: g('tus:expiring'),
    /** External library: the batch id of its scan that runs, or ran last (shared/external/scan-service.ts). */
    externalScan: (libraryId: number) => g(`ext:scan:${libraryId}`),
    // per-resource keys, in the resource's bucket
    /** The record: one string (shared/catalog/codec.ts). */
    resource: (id: number) => bucketKey(prefix, bucketOfId(id), `r:${id}`),
    /** Index entries of one bucket and chunk: sorted set, score and member the id. */
    index: (scope: IndexScope, chunk: number, bucket: number) => bucketKey(prefix, bucket, `i:${scope}:${chunk}`),
    /** Per bucket: resources counted per scope (hash, field 'a' or library id). */
    counts: (bucket: number) => bucketKey(prefix, bucket, 'n'),
    /**
     * The checksum index: hash per first SUM_PREFIX_HEX hex digits of the sha256, field
     * the rest of it, value the resource ids holding those bytes (comma-separated).
     */
    checksum: (sha: string) => ({
      key: bucketKey(prefix, bucketOfChecksum(sha), `s:${sha.slice(0, SUM_PREFIX_HEX)}`),
      field: sha.slice(SUM_PREFIX_HEX),
    }),
    /** Held while one job indexes and claims a checksum it just computed (ChecksumIndex.lockClaim). */
    claimLock: (sha: string) => bucketKey(prefix, bucketOfChecksum(sha), `s:${sha}:lock`),
    /**
     * An external library's entry → resource map (shared/external/entries.ts): hash per
     * library and first SUM_PREFIX_HEX hex digits of the sha256 of the entry's key (its
     * path in the source), field the rest of it, in the bucket those digits name — spread
     * like the checksum index, one slot per entry, so its claim is one atomic script.
     */
    externalEntry: (libraryId: number, entryHash: string) => ({
      key: bucketKey(prefix, bucketOfChecksum(entryHash), `x:${libraryId}:${entryHash.slice(0, SUM_PREFIX_HEX)}`),
      field: entryHash.slice(SUM_PREFIX_HEX),
    }),
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

/** Pre-cluster layout (before issue 13): every key under `{prefix}`. Read by the migration only. */
export function legacyCatalogKeys(prefix: string) {
  const p = keyPrefix(prefix);
  return {
    resource: (id: number) => `${p}:res:${id}`,
    libraryResources: (libraryId: number) => `${p}:lib:${libraryId}:res`,
    allResources: `${p}:res:all`,
    checksum: (sha: string) => `${p}:sum:${sha}`,
  };
}

/**
 * BullMQ's prefix for one queue: each queue on a hash tag of its own (BullMQ's Redis
 * Cluster guidance), so its Lua scripts stay in one slot and the queues — the lanes —
 * land on different masters. Keys look like `{mi:ingest}:ingest:wait`.
 */
export function queuePrefix(prefix: string, queue: string): string {
  return `{${prefix}:${queue}}`;
}
