import type { Readable } from 'node:stream';
import type { Config } from '../config.js';
import type { LibrarySource } from '../model.js';
import type { ByteRange } from '../storage/object-store.js';

/** One file of a source, as its listing or a stat sees it. */
export interface SourceEntry {
  /** Its path in the source: relative to an fs source's folder; an s3 object's key. */
  key: string;
  size: number;
  /** What changes when the file does: size and mtime (fs), size and ETag (s3). */
  stamp: string;
}

/**
 * Reading a source in place — never writing it. The listing is in a fixed order and
 * resumes after a given key, so a scan killed midway goes on where it stood.
 */
export interface SourceAccess {
  list(after: string): AsyncIterable<SourceEntry>;
  /** undefined when the file is gone. */
  stat(key: string): Promise<SourceEntry | undefined>;
  open(key: string, range?: ByteRange): Promise<Readable>;
  /** A local path of the file (fs sources), checked to still lie inside the source. */
  localPath(key: string): Promise<string | undefined>;
}

export async function sourceAccess(config: Config, source: LibrarySource): Promise<SourceAccess> {
  if (source.type === 'fs') {
    const { FsSource } = await import('./fs-source.js');
    return new FsSource(source.path);
  }
  // Loaded only when used, like the S3 store.
  const { S3Source } = await import('./s3-source.js');
  return new S3Source(config, source);
}
