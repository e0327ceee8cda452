import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Seed nodes of the harness's 3-master Redis Cluster (REDIS_CLUSTER_NODES). */
    redisClusterNodes: string;
    s3: { endpoint: string; accessKey: string; secretKey: string };
  }
}
