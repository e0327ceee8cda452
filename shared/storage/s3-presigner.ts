import type { Client } from 'minio';
import type { S3StorageConfig } from '../config.js';
import { StorageUnavailableError } from '../errors.js';
import { createS3Client } from './s3-client.js';

/**
 * S3 multipart uploads driven by the client: we start one, sign a URL per part, the
 * client PUTs the parts straight to S3/MinIO (the bytes never pass the API), and we
 * complete it. Signed for `publicEndpoint` — the address clients reach, which in a
 * deployment is often not the one the service uses (http://minio:9000) — with a fixed
 * region, so signing needs no round trip.
 */
export class S3Presigner {
  private readonly internal: Client;
  private readonly external: Client;

  constructor(private readonly config: S3StorageConfig) {
    this.internal = createS3Client(config);
    const pub = config.publicEndpoint ? new URL(config.publicEndpoint) : undefined;
    this.external = pub
      ? createS3Client(config, { endPoint: pub.hostname, port: pub.port ? Number(pub.port) : undefined, useSSL: pub.protocol === 'https:' })
      : this.internal;
  }

  async start(key: string): Promise<string> {
    return wrap(() => this.internal.initiateNewMultipartUpload(this.config.bucket, key, { 'Content-Type': 'application/octet-stream' }));
  }

  async partUrls(key: string, uploadId: string, parts: number, expirySeconds: number): Promise<string[]> {
    return Promise.all(
      Array.from({ length: parts }, (_, i) =>
        wrap(() => this.external.presignedUrl('PUT', this.config.bucket, key, expirySeconds, { partNumber: String(i + 1), uploadId })),
      ),
    );
  }

  async complete(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void> {
    await wrap(() =>
      this.internal.completeMultipartUpload(
        this.config.bucket,
        key,
        uploadId,
        parts.map((p) => ({ part: p.partNumber, etag: p.etag })),
      ),
    );
  }

  async abort(key: string, uploadId: string): Promise<void> {
    await wrap(() => this.internal.abortMultipartUpload(this.config.bucket, key, uploadId));
  }
}

async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // S3's own refusals of a client's mistake (a wrong ETag, a part too small) are the client's to fix.
    if (e.code === 'InvalidPart' || e.code === 'EntityTooSmall' || e.code === 'InvalidPartOrder' || e.code === 'NoSuchUpload') throw err;
    throw new StorageUnavailableError(e.message ?? String(err), { cause: err });
  }
}
