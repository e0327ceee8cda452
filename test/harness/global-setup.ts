import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './redis-cluster.js';
import { startRedisServer } from './redis-server.js';
import { startS3Server } from './s3-server.js';

/**
 * One private redis-server, one 3-master Redis Cluster and one s3rver for the whole run.
 * Test files isolate themselves with their own Redis key prefix and their own bucket.
 */
export default async function setup(project: TestProject) {
  const [redis, cluster, s3] = await Promise.all([startRedisServer(), startRedisCluster(), startS3Server()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.seeds);
  project.provide('s3', { endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey });
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), s3.stop()]);
  };
}
