/**
 * Where a resource's objects live. Everything of resource 1234 is under one prefix,
 * so delete and reindex are a single list. The first segment spreads resources over
 * 4096 folders (fs) / key-space partitions (S3): a flat folder of 100 million entries
 * is slow on every filesystem. The client's file name never becomes part of a key.
 */
export function resourcePrefix(id: number): string {
  const shard = (id % 4096).toString(16).padStart(3, '0');
  return `resources/${shard}/${id}/`;
}

export function originalKey(id: number, fileVersion: number, extension: string): string {
  const ext = /^[a-z0-9]{1,10}$/.test(extension) ? `.${extension}` : '';
  return `${resourcePrefix(id)}v${fileVersion}/original${ext}`;
}

/** The complete JSON record (with the full metadata), from which `reindex` rebuilds Redis. */
export function recordKey(id: number): string {
  return `${resourcePrefix(id)}record.json`;
}
