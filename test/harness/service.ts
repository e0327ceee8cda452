import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { Worker } from 'bullmq';
import { startApi, type RunningApi } from '../../api/server.js';
import { loadConfig, redisEndpoint, type Config } from '../../shared/config.js';
import { openCore, type Core } from '../../shared/core.js';
import { createLogger } from '../../shared/logger.js';
import type { ObjectStore } from '../../shared/storage/object-store.js';
import { createRedis } from '../../shared/redis.js';
import { closeWorkers, createWorkers } from '../../worker/worker.js';

export type StorageKind = 'fs' | 's3';

/**
 * The stores to run a suite on: both, or only `fs` when the S3 gateway could not be
 * installed (the run's setup printed why and how to install it).
 */
export function storageKinds(): StorageKind[] {
  return inject('s3') ? ['fs', 's3'] : ['fs'];
}

/** Rows of a `describe.each` table whose first column is a store, less the stores this run lacks. */
export function onStores<T extends [StorageKind, ...unknown[]]>(rows: T[]): T[] {
  return rows.filter(([kind]) => storageKinds().includes(kind));
}

/** Why the S3 suites are skipped, or '' when the gateway runs (for `describe.skipIf`). */
export const s3Missing = (): string => inject('s3Missing');

/** Which Redis a test service uses: the harness's single redis-server or its 3-master cluster. */
export type RedisMode = 'single' | 'cluster';
export const REDIS_MODES: readonly RedisMode[] = ['single', 'cluster'];

export interface TestService {
  url: string;
  key: string;
  config: Config;
  core: Core;
  api: RunningApi;
  workers: Worker[];
  /** Fetch against the API with the key. */
  fetch(pathname: string, init?: RequestInit): Promise<Response>;
  /**
   * Every object key in the store (fs: every file on disk, including temp files; S3: also
   * each incomplete multipart upload, as "<key> (incomplete multipart upload)").
   */
  allObjects(): Promise<string[]>;
  close(): Promise<void>;
}

export const TEST_KEY = 'test-key-0123456789abcdef';

/** REDIS_URL or REDIS_CLUSTER_NODES of a service, for processes started beside it. */
export function redisEnv(svc: Pick<TestService, 'config'>): Record<string, string> {
  const nodes = svc.config.redis.clusterNodes;
  return nodes ? { REDIS_CLUSTER_NODES: nodes.map((n) => `${n.host}:${n.port}`).join(',') } : { REDIS_URL: svc.config.redis.url! };
}

/**
 * The real service on a free port: the API, in-process workers (unless `worker: false`),
 * the shared test redis-server under a prefix of its own, and a fresh store — a temp dir
 * or a new bucket on the run's S3 gateway (emptied again on close).
 */
export async function startService(
  storage: StorageKind,
  opts: {
    env?: Record<string, string>;
    worker?: boolean;
    /** A Redis of the test's own (one it can kill) instead of the shared one. */
    redisUrl?: string;
    /** The harness's Redis Cluster (or, with `redisClusterNodes`, a cluster of the test's own). @defaultValue 'single' */
    redis?: RedisMode;
    redisClusterNodes?: string;
    /** An S3 server of the test's own (one it can stop) instead of the shared one. */
    s3?: { endpoint: string; accessKey: string; secretKey: string };
  } = {},
): Promise<TestService> {
  const cluster = opts.redis === 'cluster' || opts.redisClusterNodes !== undefined;
  const redisEnv: Record<string, string> = cluster
    ? { REDIS_CLUSTER_NODES: opts.redisClusterNodes ?? inject('redisClusterNodes') }
    : { REDIS_URL: opts.redisUrl ?? inject('redisUrl') };
  const s3 = opts.s3 ?? inject('s3');
  if (storage === 's3' && !s3) throw new Error(inject('s3Missing'));
  const id = randomBytes(5).toString('hex');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-test-'));
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ...redisEnv,
    REDIS_PREFIX: `t${id}`,
    API_KEYS: TEST_KEY,
    ADMIN_KEYS: TEST_KEY,
    LOG_LEVEL: 'silent',
    WORKER_CONCURRENCY: '2',
    JOB_ATTEMPTS: '2',
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...(storage === 's3'
      ? {
          STORAGE_DRIVER: 's3',
          S3_ENDPOINT: s3!.endpoint,
          S3_ACCESS_KEY: s3!.accessKey,
          S3_SECRET_KEY: s3!.secretKey,
          S3_BUCKET: `test-${id}`,
        }
      : { STORAGE_DRIVER: 'fs' }),
    ...opts.env,
  };
  const config = loadConfig(env);
  const logger = createLogger(config.process.logLevel, 'test');
  const redis = redisEndpoint(config)!;
  const core = await openCore(config, redis);
  const api = await startApi(config, core, redis, logger);
  const connection = createRedis(redis, 'worker');
  const workers =
    opts.worker === false
      ? []
      : createWorkers({ ...core, connection, redisPrefix: config.redis.prefix, logger, concurrency: config.worker.concurrency });
  return {
    url: api.url,
    key: TEST_KEY,
    config,
    core,
    api,
    workers,
    fetch: (pathname, init = {}) =>
      fetch(`${api.url}${pathname}`, {
        ...init,
        headers: { authorization: `Bearer ${TEST_KEY}`, ...(init.headers as Record<string, string>) },
      }),
    async allObjects() {
      if (config.storage.driver === 'fs') return walk(config.storage.root);
      const keys: string[] = [];
      for await (const o of core.store.list('')) keys.push(o.key);
      for await (const u of core.store.incompleteUploads!('')) keys.push(`${u.key} (incomplete multipart upload)`);
      return keys;
    },
    async close() {
      await api.close();
      await closeWorkers(workers, 2000);
      connection.disconnect();
      // The gateway holds objects in memory for the whole run: give back what this file stored.
      if (config.storage.driver === 's3') await emptyStore(core.store).catch(() => undefined);
      await core.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function emptyStore(store: ObjectStore): Promise<void> {
  for await (const u of store.incompleteUploads!('')) await store.abortUpload!(u);
  const keys: string[] = [];
  for await (const o of store.list('')) keys.push(o.key);
  for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map((k) => store.delete(k)));
}

async function walk(root: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

/** A multipart body from named parts (strings are fields, objects are files). */
export function form(
  parts: Record<
    string,
    | string
    | { name: string; data: Uint8Array | string; type?: string }
    | (string | { name: string; data: Uint8Array | string; type?: string })[]
  >,
): FormData {
  const fd = new FormData();
  for (const [field, value] of Object.entries(parts)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string') fd.append(field, v);
      else
        fd.append(
          field,
          new Blob([typeof v.data === 'string' ? v.data : new Uint8Array(v.data)], { type: v.type ?? 'application/octet-stream' }),
          v.name,
        );
    }
  }
  return fd;
}

export const SHARED_FIXTURES = path.resolve(import.meta.dirname, '../../../shared/fixtures');

export async function hasSharedFixtures(): Promise<boolean> {
  return fs.access(path.join(SHARED_FIXTURES, 'MANIFEST.json')).then(
    () => true,
    () => false,
  );
}
