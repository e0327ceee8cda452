import http from 'node:http';
import https from 'node:https';
import { Client } from 'minio';
import type { S3StorageConfig } from '../config.js';

/**
 * A request whose connection stays silent this long fails with ETIMEDOUT (a storage
 * outage to the callers) instead of waiting forever: minio-js sets no timeout of its
 * own, so a gateway that accepts a request and never answers would hold an upload, or
 * a job that keeps its lock alive, for good. Idle time, not duration: a large part
 * that keeps moving is never cut.
 */
export const S3_IDLE_TIMEOUT_MS = 60_000;

export interface S3Endpoint {
  endPoint: string;
  port: number | undefined;
  useSSL: boolean;
}

/**
 * The one place that builds S3 clients (the store, tus, the presigner): the same
 * credentials, fixed region (no GetBucketLocation round trip) and idle timeout for all.
 * `at` signs for another address (the public endpoint of presigned URLs).
 */
export function createS3Client(config: S3StorageConfig, at: S3Endpoint = config, idleTimeoutMs = S3_IDLE_TIMEOUT_MS): Client {
  const base = at.useSSL ? https : http;
  const transport = {
    request(options: http.RequestOptions, onResponse?: (res: http.IncomingMessage) => void): http.ClientRequest {
      const req = base.request(options, onResponse);
      req.setTimeout(idleTimeoutMs, () => {
        req.destroy(
          Object.assign(new Error(`No answer from S3 for ${idleTimeoutMs} ms on ${options.method ?? 'GET'} ${options.path ?? ''}`), {
            code: 'ETIMEDOUT',
          }),
        );
      });
      return req;
    },
  };
  return new Client({
    endPoint: at.endPoint,
    ...(at.port !== undefined ? { port: at.port } : {}),
    useSSL: at.useSSL,
    accessKey: config.accessKey,
    secretKey: config.secretKey,
    region: config.region,
    // `putObject` of a Buffer goes multipart above the client's part size; keeping it
    // equal to ours makes every single-part PUT a single request.
    partSize: config.partSize,
    transport: transport as unknown as typeof http,
  });
}
