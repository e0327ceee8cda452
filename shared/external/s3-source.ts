import type { Readable } from 'node:stream';
import { Client } from 'minio';
import type { Config } from '../config.js';
import { UnreadableFileError } from '../errors.js';
import type { LibrarySource } from '../model.js';
import type { ByteRange } from '../storage/object-store.js';
import type { SourceAccess, SourceEntry } from './access.js';

type S3Source_ = Extract<LibrarySource, { type: 's3' }>;

/** Keys per ListObjectsV2 page: the S3 maximum. One page is what a listing holds in memory. */
const PAGE = 1000;

function client(config: Config, source: S3Source_): Client {
  if (config.storage.driver !== 's3')
    throw new UnreadableFileError(
      'An s3 source needs the service to run with STORAGE_DRIVER=s3 (its endpoint is where the source is read).',
    );
  const s = config.storage;
  const creds = source.credentials ?? { accessKey: s.accessKey, secretKey: s.secretKey };
  return new Client({
    endPoint: s.endPoint,
    ...(s.port !== undefined ? { port: s.port } : {}),
    useSSL: s.useSSL,
    region: s.region,
    ...creds,
  });
}

/** Lists one key of the source; the reason when that fails. */
export async function s3Probe(config: Config, source: S3Source_): Promise<string | undefined> {
  try {
    await client(config, source).listObjectsV2Query(source.bucket, source.prefix, '', '', 1, '');
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message.split('\n')[0]!.slice(0, 120);
  }
}

/** An S3 prefix read in place, on the configured endpoint, with the source's credentials if it has its own. */
export class S3Source implements SourceAccess {
  private readonly client: Client;

  constructor(
    config: Config,
    private readonly source: S3Source_,
  ) {
    this.client = client(config, source);
  }

  async *list(after: string): AsyncIterable<SourceEntry> {
    // StartAfter rather than continuation tokens: a token may expire, a key does not,
    // so a scan resumed a day later goes on from the same place.
    let startAfter = after;
    for (;;) {
      const page = await this.client.listObjectsV2Query(this.source.bucket, this.source.prefix, '', '', PAGE, startAfter);
      for (const o of page.objects) {
        if (!o.name || o.name.endsWith('/')) continue;
        yield { key: o.name, size: o.size, stamp: `${o.size}:${o.etag ?? ''}` };
      }
      const last = page.objects.at(-1)?.name;
      if (!page.isTruncated || !last) return;
      startAfter = last;
    }
  }

  async stat(key: string): Promise<SourceEntry | undefined> {
    try {
      const st = await this.client.statObject(this.source.bucket, key);
      return { key, size: st.size, stamp: `${st.size}:${st.etag}` };
    } catch (err) {
      if (['NotFound', 'NoSuchKey'].includes((err as { code?: string }).code ?? '')) return undefined;
      throw err;
    }
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    try {
      if (range) return await this.client.getPartialObject(this.source.bucket, key, range.start, range.end - range.start + 1);
      return await this.client.getObject(this.source.bucket, key);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      throw new UnreadableFileError(`The source object ${JSON.stringify(key)} cannot be read (${code}).`);
    }
  }

  async localPath(): Promise<string | undefined> {
    return undefined;
  }
}
