import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Seed nodes of the harness's 3-master Redis Cluster (REDIS_CLUSTER_NODES). */
    redisClusterNodes: string;
    /** The run's S3 gateway; null when Ceph is missing (`s3Missing` says why). */
    s3: { endpoint: string; accessKey: string; secretKey: string } | null;
    s3Missing: string;
  }
}
