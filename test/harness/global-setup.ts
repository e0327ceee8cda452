import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './redis-cluster.js';
import { startRedisServer } from './redis-server.js';
import { ensureCeph, startS3Server } from './s3-server.js';

/**
 * One private redis-server, one 3-master Redis Cluster and one S3 gateway (Ceph radosgw)
 * for the whole run. Test files isolate themselves with their own Redis key prefix and
 * their own bucket.
 */
export default async function setup(project: TestProject) {
  const s3Missing = await ensureCeph();
  if (s3Missing) console.warn(`\n*** ${s3Missing}\n`);
  const [redis, cluster, s3] = await Promise.all([startRedisServer(), startRedisCluster(), s3Missing ? undefined : startS3Server()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.seeds);
  project.provide('s3', s3 ? { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey } : null);
  project.provide('s3Missing', s3Missing ?? '');
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), s3?.stop()]);
  };
}
