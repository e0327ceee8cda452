/**
 * Where a resource's objects live. Everything of resource 1234 is under one prefix,
 * so delete and reindex are a single list. The first segment spreads resources over
 * 4096 folders (fs) / key-space partitions (S3): a flat folder of 100 million entries
 * is slow on every filesystem. The client's file name never becomes part of a key.
 */
export function resourcePrefix(id: number): string {
  return `${shardPrefix(id % SHARD_COUNT)}${id}/`;
}

/** How many folders resources are spread over; `reindex` pages through them one by one. */
export const SHARD_COUNT = 4096;

/** The folder of the shard folders. */
export const RESOURCES_PREFIX = 'resources/';

/** Every resource whose id is `shard` modulo SHARD_COUNT lives under this prefix. */
export function shardPrefix(shard: number): string {
  return `${RESOURCES_PREFIX}${shard.toString(16).padStart(3, '0')}/`;
}

/**
 * The JSON copy of a library's settings, written when it is created, so `reindex` can
 * bring libraries back with their ids, names and policies if Redis is lost.
 */
export function libraryKey(id: number): string {
  return `${LIBRARIES_PREFIX}${id}.json`;
}
export const LIBRARIES_PREFIX = 'libraries/';

/**
 * The original of one file version. A replacement carries a random `token`: two
 * concurrent replaces stage different objects, so the loser's cleanup cannot remove
 * the winner's bytes.
 */
export function originalKey(id: number, fileVersion: number, extension: string, token?: string): string {
  const ext = /^[a-z0-9]{1,10}$/.test(extension) ? `.${extension}` : '';
  return `${resourcePrefix(id)}v${fileVersion}/original${token ? `-${token}` : ''}${ext}`;
}

/** Everything of one file version: its original and its renditions. */
export function versionPrefix(id: number, fileVersion: number): string {
  return `${resourcePrefix(id)}v${fileVersion}/`;
}

/** The complete JSON record (with the full metadata), from which `reindex` rebuilds Redis. */
export function recordKey(id: number): string {
  return `${resourcePrefix(id)}record.json`;
}

/**
 * A rendition: one object per box and format of a file version, the same whether it was
 * pre-rendered for a preset or rendered on demand — `/image/{w}x{h}/{id}.{ext}` maps to
 * exactly one key, and a replaced file's renditions can never be served for the new one.
 */
export function renditionKey(id: number, fileVersion: number, width: number, height: number, extension: string): string {
  return `${resourcePrefix(id)}v${fileVersion}/image/${width}x${height}.${extension}`;
}
