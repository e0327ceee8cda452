import os from 'node:os';
import path from 'node:path';
import type { RenditionPreset } from './model.js';
import type { RedisEndpoint, RedisNodeAddress } from './redis.js';
import { DEFAULT_PRESETS_SPEC, parsePresetSpec, parseSizes } from './renditions/presets.js';
import { isLane, LANES, type Lane } from './jobs/lanes.js';

/**
 * The one place that reads the environment. Every variable is validated here, all
 * problems are reported together, and the result is a frozen object passed down.
 * Nothing else reads `process.env`.
 */
export interface ExternalConfig {
  /**
   * `EXTERNAL_ROOTS`: the folders (comma-separated, absolute) under which a library's
   * `fs` source may lie; none means no `fs` source is accepted. @defaultValue none
   */
  readonly roots: readonly string[];
  /** `EXTERNAL_POLL_SECONDS`: how often an `fs` source is scanned again (0: never). @defaultValue 60 */
  readonly pollSeconds: number;
  /** `EXTERNAL_RECONCILE_SECONDS`: how often an `s3` source is scanned again, for lost events (0: never). @defaultValue 3600 */
  readonly reconcileSeconds: number;
  /** `EXTERNAL_MISSING_GRACE`: how long a resource stays `missing` before it is deleted. @defaultValue 7d */
  readonly missingGraceSeconds: number;
  /** `EXTERNAL_EVENTS_TOKEN`: what a bucket notification must present; unset, the events endpoint is off. */
  readonly eventsToken: string | undefined;
}

/**
 * The configuration, one group a concern, in the order of docs/configuration.md's
 * sections (its table is checked against this file).
 */
export interface Config {
  readonly http: HttpConfig;
  readonly process: ProcessConfig;
  readonly auth: AuthConfig;
  readonly uploads: UploadsConfig;
  readonly jobs: JobsConfig;
  readonly worker: WorkerConfig;
  readonly images: ImagesConfig;
  readonly webhooks: WebhooksConfig;
  readonly compat: CompatConfig;
  /** External libraries (docs/external-libraries.md): sources read in place. */
  readonly external: ExternalConfig;
  readonly storage: FsStorageConfig | S3StorageConfig;
  readonly redis: RedisConfig;
}

/** The API's address, links, timeouts and limits per connection. */
export interface HttpConfig {
  /** HTTP port of the API. @defaultValue 3000 */
  readonly port: number;
  /** Interface the API binds to. @defaultValue '0.0.0.0' */
  readonly host: string;
  /** Base URL used in `Location` headers and printed links; derived from PORT when unset. */
  readonly publicUrl: string;
  /** A client must send complete request headers within this (slowloris). @defaultValue 30000 */
  readonly headersTimeoutMs: number;
  /**
   * A request must be authenticated, and any body but an upload's file bytes (JSON, a
   * form, an Atom entry, the fields before a face's signature) must have arrived, this
   * long after its headers; else the connection is closed. What an upload's file sends
   * after that falls under SOCKET_IDLE_TIMEOUT_MS only: uploads may take hours.
   * @defaultValue 30000
   */
  readonly requestTimeoutMs: number;
  /**
   * Open connections one client address may hold; more are refused (429) as they
   * connect. Behind a reverse proxy every client has the proxy's address: raise it
   * there, or limit at the proxy. 0 turns the limit off. @defaultValue 64
   */
  readonly maxConnectionsPerClient: number;
  /**
   * Largest JSON body of a route that names no limit of its own (413 above it, the
   * limit in the message). Routes that take lists have their own (checksums 1 MiB,
   * mappings 256 KiB, revert 16 KiB). @defaultValue 64 KiB
   */
  readonly jsonBodyMaxBytes: number;
  /**
   * A connection with no bytes either way for this long is closed, and a stalled upload
   * with it (its staged bytes are removed). Uploads may take hours; silence may not.
   * @defaultValue 120000
   */
  readonly socketIdleTimeoutMs: number;
}

/** What every process (API, worker, `npm start`) shares: its data folder, logging, shutdown. */
export interface ProcessConfig {
  /** Local objects (fs driver) and the embedded Redis live here. @defaultValue './data' */
  readonly dataDir: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** How long SIGTERM waits for in-flight requests and active jobs. @defaultValue 30000 */
  readonly shutdownTimeoutMs: number;
}

/** Who may call what. */
export interface AuthConfig {
  /** Bearer keys accepted by the native API. Empty means: no key configured. */
  readonly apiKeys: readonly string[];
  /** Keys of the queue dashboard at `/admin/queues` (Bearer, or Basic with the key as password); none: no dashboard. */
  readonly adminKeys: readonly string[];
  /**
   * Requests per minute per API key, shared by all API replicas (Redis); 0 turns the
   * limit off. The default only stops a runaway client: batch ingestion of small files
   * from one key is the main use, and must not trip it. @defaultValue 60000
   */
  readonly rateLimitPerMinute: number;
  /**
   * Failed authentications one client address may make per minute, counted in Redis
   * across API replicas, on the native API, the compatibility faces and `/image` alike;
   * past it every authentication from that address answers 429 with Retry-After until
   * the minute ends (a right key too, or guessing would go on). 0 turns it off.
   * @defaultValue 30
   */
  readonly authFailuresPerMinute: number;
}

/** What an upload may be and how the API waits for it. */
export interface UploadsConfig {
  /** Largest accepted file, per file part. @defaultValue 1 GiB */
  readonly maxBytes: number;
  /** Most file parts in one upload request. @defaultValue 100 */
  readonly maxFilesPerRequest: number;
  /**
   * Threads of the API process that compute uploads' SHA-256 beside the event loop
   * (files larger than 256 KiB); 0 hashes on the event loop, which then bounds an API
   * process at one core's worth of hashing, parsing and writing together: on 2 cores one
   * thread gave 1.06–1.30× the throughput for 0.83–1.03× the CPU per GiB (five runs of
   * bench upload-throughput). @defaultValue 0 on 1 CPU core, 1 on 2 or 3, else cores − 2 (at most 4)
   */
  readonly hashThreads: number;
  /** Upper bound for `?wait=N` / `Prefer: wait=N` / `/wait?timeout=N`, in seconds. @defaultValue 60 */
  readonly waitMaxSeconds: number;
  readonly tus: TusConfig;
}

/** Resumable uploads (tus 1.0, `POST /v1/libraries/{library}/tus`). */
export interface TusConfig {
  /**
   * An unfinished upload with no PATCH for this long expires: its bytes are removed
   * (an S3 multipart upload aborted) and its URL answers 410. A finished upload's URL
   * keeps telling its outcome (HEAD) for as long. @defaultValue 86400
   */
  readonly expirySeconds: number;
  /** How often each API process removes expired uploads; 0 turns the sweep off. @defaultValue 60 */
  readonly sweepIntervalSeconds: number;
}

/** Retries, stalled jobs and bulk work. */
export interface JobsConfig {
  /** Attempts per job before it fails for good (transient errors only). @defaultValue 5 */
  readonly attempts: number;
  /**
   * BullMQ's stalled-job check interval, and the lock a worker holds on an active job
   * (renewed every half of it). A job whose worker died (SIGKILL, OOM, power) runs
   * again within about twice this. Smaller recovers sooner but renews locks more
   * often; a job whose renewal is starved longer than this runs twice, which is
   * harmless (jobs are idempotent) but wasted work. @defaultValue 30000
   */
  readonly stalledIntervalMs: number;
  /**
   * Times a job may be interrupted by its worker dying before it fails for good: a
   * file that crashes every worker that touches it (a decoder bug, memory) must not
   * crash-loop the fleet forever. Innocent jobs that were merely running when another
   * job killed the process count too, so leave some room. @defaultValue 2
   */
  readonly maxStalledCount: number;
  /** Bulk-lane jobs started per second, across all worker processes together. @defaultValue 1000 */
  readonly bulkJobsPerSecond: number;
  /** Bulk revert (`POST /v1/reprocess`). */
  readonly reprocess: {
    /** Resources read from a catalog index and enqueued per page. @defaultValue 1000 */
    readonly chunkSize: number;
    /**
     * Most jobs of one batch waiting in the queue at once; the fan-out pauses above it,
     * so a batch over 100 million resources never puts 100 million jobs into Redis.
     * @defaultValue 5000
     */
    readonly maxQueued: number;
    /**
     * Resources per job of a re-map from stored tags (no `reread`, no `renditions`): one
     * `remap-page` job each, which the bulk lane's limiter counts as one job. 0 queues one
     * job per resource, as before pages existed. @defaultValue 500
     */
    readonly pageSize: number;
  };
}

/** What one worker process runs. */
export interface WorkerConfig {
  /** Jobs one worker process runs at once. @defaultValue number of CPU cores */
  readonly concurrency: number;
  /** Lanes this worker process serves (shared/jobs/lanes.ts). @defaultValue ingest, render, bulk */
  readonly lanes: readonly Lane[];
  /**
   * Bulk-lane jobs one worker process runs at once, in slots of their own beside the
   * ingest lane's: an upload never waits for a bulk job to finish, it only shares the
   * CPU with it. Lower it to give uploads the larger share. @defaultValue WORKER_CONCURRENCY
   */
  readonly bulkConcurrency: number;
  /** Port of a worker process's Prometheus `/metrics`; 0 picks a free one (logged). @defaultValue 9464 */
  readonly metricsPort: number;
  /** Metadata extraction (exiftool-vendored, one ExifTool per worker process). */
  readonly exiftool: {
    /**
     * exiftool processes of one worker process. More than the jobs that can run at once
     * buys nothing, and more than the cores only adds Perl interpreters.
     * @defaultValue min(WORKER_CONCURRENCY, CPU cores)
     */
    readonly maxProcs: number;
    /**
     * A read that takes longer is killed and the job retried, then failed with the
     * reason: a hang must never pass as "no metadata". @defaultValue 30000
     */
    readonly taskTimeoutMs: number;
  };
  /** On-demand render jobs one worker process runs at once. @defaultValue 2 */
  readonly renderConcurrency: number;
  /** libvips threads per image; 0 picks cores ÷ WORKER_CONCURRENCY (at least 1). @defaultValue 0 */
  readonly vipsConcurrency: number;
  /**
   * glibc malloc arenas of the worker (read by the C library itself; here so it is
   * documented and validated). Without jemalloc, the worker restarts itself with 2.
   */
  readonly mallocArenaMax: number | undefined;
}

/** Renditions and `/image/…` delivery. */
export interface ImagesConfig {
  /** Global presets, pre-rendered for libraries without their own. @defaultValue thumbnail, small, medium, large (WebP) */
  readonly presets: readonly RenditionPreset[];
  /** Sizes anyone may have rendered on demand, besides the presets' own. @defaultValue none */
  readonly sizes: readonly { readonly width: number; readonly height: number }[];
  /** HMAC-SHA256 key of signed `/image` URLs (any size up to maxDimension, private resources). Unset: no signed URLs. */
  readonly urlSecret: string | undefined;
  /** Largest width or height of any rendition. @defaultValue 4096 */
  readonly maxDimension: number;
  /**
   * Largest image decoded, in pixels (sharp's limitInputPixels): a decompression bomb
   * is refused from its header, before memory is spent. @defaultValue 268402689 (16383², sharp's own)
   */
  readonly maxPixels: number;
  /** `Cache-Control: max-age` of renditions and originals. @defaultValue 86400 */
  readonly cacheSeconds: number;
  /** How long a request waits for an on-demand render before answering 503. @defaultValue 30 */
  readonly renderWaitSeconds: number;
}

/** Completion webhooks. */
export interface WebhooksConfig {
  /** HMAC-SHA256 key that signs completion webhooks; unset: webhooks are refused. */
  readonly secret: string | undefined;
  /** How long a webhook receiver may take to answer before the attempt counts as failed. @defaultValue 10000 */
  readonly timeoutMs: number;
  /**
   * Whether webhooks may go to loopback, private and link-local addresses (a receiver on
   * the same host or network). Off, such URLs are refused (400) and host names that
   * resolve to them fail delivery for good (SSRF). @defaultValue false
   */
  readonly allowPrivate: boolean;
  /** Deliveries of one webhook before it is given up (exponential backoff from 1 s). @defaultValue 8 */
  readonly attempts: number;
}

/**
 * Compatibility faces' credentials (parsed now; used by the adapters). Each opens the
 * libraries written after it (`@photos|news`, `@*` for all); without: `default` only.
 * Secrets are at least 16 characters, like API keys.
 */
export interface CompatConfig {
  /** RESOURCESPACE_USERS=`user:privatekey[@lib|lib…],…`; uploads go to the first library. */
  readonly resourceSpaceUsers: ReadonlyMap<string, CompatCredential>;
  /** COPERNICA_TOKENS=`token[@lib|lib…],…` */
  readonly copernicaTokens: readonly CompatCredential[];
  /** FLOTIQ_API_KEYS=`key[@lib|lib…],…`; uploads go to the first library. */
  readonly flotiqApiKeys: readonly CompatCredential[];
  /** CONNECTIONS_USERS=`user:password,…`: each user has the library `connections-<user>`, and only it. */
  readonly connectionsUsers: ReadonlyMap<string, string>;
  /**
   * Where Flotiq's Unsplash import (`GET /api/unsplash/{id}`) fetches a photo: a URL
   * with `{id}` in it (an Unsplash mirror or proxy). Unset: the import answers a clear
   * error, since no internet access is assumed. @defaultValue undefined
   */
  readonly unsplashSourceUrl: string | undefined;
}

/** Queues and the catalog. */
export interface RedisConfig {
  /** Unset means `npm start` runs a private redis-server; the production processes require it. */
  readonly url: string | undefined;
  /**
   * Seed nodes of a Redis Cluster (`host:port,…`; any reachable subset is enough):
   * the API and workers then open ioredis Cluster connections. Exclusive with REDIS_URL.
   */
  readonly clusterNodes: readonly RedisNodeAddress[] | undefined;
  /**
   * Prefix of every Redis key. Wrapped in braces (a Redis Cluster hash tag) so that the
   * queue keys BullMQ's Lua scripts touch together, and the catalog keys ours touch
   * together, land in one slot. @defaultValue 'mi'
   */
  readonly prefix: string;
}

/** A compatibility face's secret and the libraries it opens (`*`: every library). */
export interface CompatCredential {
  readonly secret: string;
  /** Library names; the first takes new uploads. @defaultValue ['default'] */
  readonly libraries: readonly string[];
}

/** Shortest secret of any kind of key (API, admin, compatibility). */
export const MIN_KEY_LENGTH = 16;

export interface FsStorageConfig {
  readonly driver: 'fs';
  /** Root of stored objects. @defaultValue `${DATA_DIR}/objects` */
  readonly root: string;
}

export interface S3StorageConfig {
  readonly driver: 's3';
  readonly endPoint: string;
  readonly port: number | undefined;
  readonly useSSL: boolean;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly region: string;
  /**
   * Multipart part size. 5 MiB is the S3 minimum for all parts but the last; small
   * parts keep memory per upload at about two parts, whatever the file size.
   * @defaultValue 5 MiB
   */
  readonly partSize: number;
  /**
   * `S3_MULTIPART_MAX_AGE_SECONDS`: the orphan sweeper aborts incomplete multipart
   * uploads started longer ago than this (a process that died mid-upload leaves them;
   * their parts take space but show in no listing). Pending direct uploads are kept
   * until their URLs expire whatever this says. Keep it above the longest upload.
   * @defaultValue 86400 (a day)
   */
  readonly multipartMaxAgeSeconds: number;
  /**
   * The S3 endpoint as clients reach it, for presigned direct uploads (e.g. https://s3.example.com
   * when the service itself uses http://minio:9000). @defaultValue S3_ENDPOINT
   */
  readonly publicEndpoint?: string | undefined;
}

/** The configured Redis (REDIS_CLUSTER_NODES or REDIS_URL); undefined when neither is set. */
export function redisEndpoint(config: Pick<Config, 'redis'>): RedisEndpoint | undefined {
  if (config.redis.clusterNodes) return { clusterNodes: config.redis.clusterNodes };
  return config.redis.url ? { url: config.redis.url } : undefined;
}

function parseClusterNodes(raw: string | undefined, problems: string[]): RedisNodeAddress[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const nodes: RedisNodeAddress[] = [];
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      problems.push(
        `REDIS_CLUSTER_NODES must be a comma-separated list of host:port (e.g. redis-1:6379,redis-2:6379) but one entry is "${item.slice(0, 80)}"`,
      );
      continue;
    }
    nodes.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return nodes.length ? nodes : undefined;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const MiB = 1024 * 1024;
const S3_MIN_PART = 5 * MiB;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const p = new Parser(env, problems);

  const port = p.int('PORT', 3000, 0, 65535);
  const host = p.str('HOST') ?? '0.0.0.0';
  const dataDir = path.resolve(p.str('DATA_DIR') ?? './data');
  const redisUrl = p.url('REDIS_URL', ['redis:', 'rediss:']);
  const redisClusterNodes = parseClusterNodes(p.str('REDIS_CLUSTER_NODES'), problems);
  if (redisUrl && redisClusterNodes) {
    problems.push(
      'REDIS_URL and REDIS_CLUSTER_NODES are both set; set REDIS_URL for one Redis server or REDIS_CLUSTER_NODES for a Redis Cluster, not both',
    );
  }
  const redisPrefix = p.str('REDIS_PREFIX') ?? 'mi';
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(redisPrefix)) {
    problems.push(`REDIS_PREFIX must be 1-32 characters of A-Z a-z 0-9 _ . - (got "${redisPrefix}")`);
  }

  const driver = p.str('STORAGE_DRIVER') ?? 'fs';
  let storage: Config['storage'] = { driver: 'fs', root: path.join(dataDir, 'objects') };
  if (driver === 's3') {
    const endpoint = p.url('S3_ENDPOINT', ['http:', 'https:']);
    const accessKey = p.str('S3_ACCESS_KEY');
    const secretKey = p.str('S3_SECRET_KEY');
    if (!endpoint) problems.push('S3_ENDPOINT is required when STORAGE_DRIVER=s3 (e.g. http://minio:9000)');
    if (!accessKey) problems.push('S3_ACCESS_KEY is required when STORAGE_DRIVER=s3');
    if (!secretKey) problems.push('S3_SECRET_KEY is required when STORAGE_DRIVER=s3');
    const bucket = p.str('S3_BUCKET') ?? 'media-ingest';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      problems.push(`S3_BUCKET must be a valid bucket name: 3-63 characters of a-z 0-9 . - (got "${bucket}")`);
    }
    const partSize = p.bytes('S3_PART_SIZE', S3_MIN_PART);
    if (partSize < S3_MIN_PART) problems.push(`S3_PART_SIZE must be at least 5 MiB, the S3 minimum part size (got ${partSize})`);
    const u = endpoint ? new URL(endpoint) : undefined;
    storage = {
      driver: 's3',
      endPoint: u?.hostname ?? '',
      port: u?.port ? Number(u.port) : undefined,
      useSSL: u?.protocol === 'https:',
      accessKey: accessKey ?? '',
      secretKey: secretKey ?? '',
      bucket,
      region: p.str('S3_REGION') ?? 'us-east-1',
      partSize,
      multipartMaxAgeSeconds: p.int('S3_MULTIPART_MAX_AGE_SECONDS', 86_400, 0, 365 * 86_400),
      publicEndpoint: p.url('S3_PUBLIC_ENDPOINT', ['http:', 'https:']),
    };
  } else if (driver !== 'fs') {
    problems.push(`STORAGE_DRIVER must be "fs" or "s3" (got "${driver}")`);
  }

  const cpus = Math.max(1, os.availableParallelism());
  const workerConcurrency = p.int('WORKER_CONCURRENCY', cpus, 1, 1024);
  const config: Config = {
    http: {
      port,
      host,
      publicUrl: (p.url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, ''),
      headersTimeoutMs: p.int('HEADERS_TIMEOUT_MS', 30_000, 100, 3_600_000),
      requestTimeoutMs: p.int('REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
      maxConnectionsPerClient: p.int('MAX_CONNECTIONS_PER_CLIENT', 64, 0, 1_000_000),
      jsonBodyMaxBytes: p.bytes('JSON_BODY_MAX_BYTES', 64 * 1024),
      socketIdleTimeoutMs: p.int('SOCKET_IDLE_TIMEOUT_MS', 120_000, 100, 86_400_000),
    },
    process: {
      dataDir,
      logLevel: p.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
      shutdownTimeoutMs: p.int('SHUTDOWN_TIMEOUT_MS', 30_000, 0, 3_600_000),
    },
    auth: parseAuth(p, problems),
    uploads: {
      maxBytes: p.bytes('MAX_UPLOAD_BYTES', 1024 * MiB),
      maxFilesPerRequest: p.int('MAX_FILES_PER_REQUEST', 100, 1, 10_000),
      hashThreads: p.int('UPLOAD_HASH_THREADS', defaultHashThreads(cpus), 0, 64),
      waitMaxSeconds: p.int('WAIT_MAX_SECONDS', 60, 0, 3600),
      tus: {
        expirySeconds: p.int('TUS_EXPIRY_SECONDS', 86_400, 1, 30 * 86_400),
        sweepIntervalSeconds: p.int('TUS_SWEEP_INTERVAL_SECONDS', 60, 0, 86_400),
      },
    },
    jobs: {
      attempts: p.int('JOB_ATTEMPTS', 5, 1, 100),
      stalledIntervalMs: p.int('JOB_STALLED_INTERVAL_MS', 30_000, 500, 3_600_000),
      maxStalledCount: p.int('JOB_MAX_STALLED', 2, 0, 1000),
      bulkJobsPerSecond: p.int('BULK_JOBS_PER_SECOND', 1000, 1, 1_000_000),
      reprocess: {
        chunkSize: p.int('REPROCESS_CHUNK_SIZE', 1000, 1, 10_000),
        maxQueued: p.int('REPROCESS_MAX_QUEUED', 5000, 1, 1_000_000),
        pageSize: p.int('REMAP_PAGE_SIZE', 500, 0, 10_000),
      },
    },
    worker: parseWorker(p, problems, workerConcurrency, cpus),
    images: parseImages(p, problems),
    webhooks: parseWebhooks(p, problems),
    compat: {
      resourceSpaceUsers: new Map([...p.pairs('RESOURCESPACE_USERS')].map(([user, v]) => [user, p.credential('RESOURCESPACE_USERS', v)])),
      copernicaTokens: p.list('COPERNICA_TOKENS').map((v) => p.credential('COPERNICA_TOKENS', v)),
      flotiqApiKeys: p.list('FLOTIQ_API_KEYS').map((v) => p.credential('FLOTIQ_API_KEYS', v)),
      connectionsUsers: p.pairs('CONNECTIONS_USERS'),
      unsplashSourceUrl: withIdPlaceholder('UNSPLASH_SOURCE_URL', p.url('UNSPLASH_SOURCE_URL', ['http:', 'https:']), problems),
    },
    external: parseExternal(p, problems),
    storage,
    redis: { url: redisUrl, clusterNodes: redisClusterNodes, prefix: redisPrefix },
  };
  if (config.uploads.maxBytes < 1) problems.push('MAX_UPLOAD_BYTES must be at least 1 byte');
  if (config.http.jsonBodyMaxBytes < 1024) problems.push(`JSON_BODY_MAX_BYTES must be at least 1K (got ${config.http.jsonBodyMaxBytes})`);
  for (const [user, password] of config.compat.connectionsUsers) {
    if (password.length < MIN_KEY_LENGTH)
      problems.push(
        `CONNECTIONS_USERS: the password of "${user}" must be at least ${MIN_KEY_LENGTH} characters (it has ${password.length})`,
      );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function parseAuth(p: Parser, problems: string[]): AuthConfig {
  const apiKeys = p.list('API_KEYS');
  for (const k of apiKeys) {
    if (k.length < MIN_KEY_LENGTH) problems.push(`API_KEYS: each key must be at least ${MIN_KEY_LENGTH} characters (one has ${k.length})`);
  }
  const adminKeys = p.list('ADMIN_KEYS');
  if (adminKeys.some((k) => k.length < MIN_KEY_LENGTH)) problems.push(`ADMIN_KEYS: each key must be at least ${MIN_KEY_LENGTH} characters`);
  return {
    apiKeys,
    adminKeys,
    rateLimitPerMinute: p.int('RATE_LIMIT_PER_MINUTE', 60_000, 0, 100_000_000),
    authFailuresPerMinute: p.int('AUTH_FAILURES_PER_MINUTE', 30, 0, 1_000_000),
  };
}

function parseWorker(p: Parser, problems: string[], workerConcurrency: number, cpus: number): WorkerConfig {
  const lanes = p.list('WORKER_LANES');
  const unknown = lanes.filter((l) => !isLane(l));
  if (unknown.length) problems.push(`WORKER_LANES must be a comma-separated list of ${LANES.join(', ')} (got "${unknown.join(', ')}")`);
  const arena = p.str('MALLOC_ARENA_MAX');
  return {
    concurrency: workerConcurrency,
    lanes: lanes.length === 0 || unknown.length ? LANES : [...new Set(lanes as Lane[])],
    bulkConcurrency: p.int('BULK_CONCURRENCY', workerConcurrency, 1, 1024),
    metricsPort: p.int('WORKER_METRICS_PORT', 9464, 0, 65535),
    exiftool: {
      maxProcs: p.int('EXIFTOOL_MAX_PROCS', Math.min(workerConcurrency, cpus), 1, 256),
      taskTimeoutMs: p.int('EXIFTOOL_TASK_TIMEOUT_MS', 30_000, 1, 3_600_000),
    },
    renderConcurrency: p.int('RENDER_CONCURRENCY', 2, 1, 256),
    vipsConcurrency: p.int('VIPS_CONCURRENCY', 0, 0, 1024),
    mallocArenaMax: arena === undefined ? undefined : p.int('MALLOC_ARENA_MAX', 2, 1, 1024),
  };
}

function parseWebhooks(p: Parser, problems: string[]): WebhooksConfig {
  const secret = p.str('WEBHOOK_SECRET');
  if (secret !== undefined && secret.length < 32) {
    problems.push(`WEBHOOK_SECRET must be at least 32 characters (e.g. \`openssl rand -hex 32\`); it has ${secret.length}`);
  }
  return {
    secret,
    timeoutMs: p.int('WEBHOOK_TIMEOUT_MS', 10_000, 100, 300_000),
    attempts: p.int('WEBHOOK_ATTEMPTS', 8, 1, 100),
    allowPrivate: p.oneOf('WEBHOOK_ALLOW_PRIVATE', ['true', 'false'] as const, 'false') === 'true',
  };
}

function parseExternal(p: Parser, problems: string[]): ExternalConfig {
  const roots = p.list('EXTERNAL_ROOTS');
  const relative = roots.filter((r) => !r.startsWith('/'));
  if (relative.length) problems.push(`EXTERNAL_ROOTS must be absolute folders (got "${relative.join(', ')}")`);
  const graceRaw = p.str('EXTERNAL_MISSING_GRACE') ?? '7d';
  const grace = parseDuration(graceRaw);
  if (grace === undefined) problems.push(`EXTERNAL_MISSING_GRACE must be a duration like 604800, 90m, 12h or 7d (got "${graceRaw}")`);
  const eventsToken = p.str('EXTERNAL_EVENTS_TOKEN');
  if (eventsToken !== undefined && eventsToken.length < MIN_KEY_LENGTH) {
    problems.push(`EXTERNAL_EVENTS_TOKEN must be at least ${MIN_KEY_LENGTH} characters (it has ${eventsToken.length})`);
  }
  return {
    roots: roots.filter((r) => r.startsWith('/')).map((r) => (r.length > 1 ? r.replace(/\/+$/, '') : r)),
    pollSeconds: p.int('EXTERNAL_POLL_SECONDS', 60, 0, 86_400),
    reconcileSeconds: p.int('EXTERNAL_RECONCILE_SECONDS', 3600, 0, 7 * 86_400),
    missingGraceSeconds: grace ?? 7 * 86_400,
    eventsToken,
  };
}

/** Seconds: a plain integer, or with a unit s, m, h, d. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d{1,9})\s*(s|m|h|d)?$/i.exec(raw.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
}

function parseImages(p: Parser, problems: string[]): ImagesConfig {
  const maxDimension = p.int('IMAGE_MAX_DIMENSION', 4096, 16, 65_535);
  const presets = parsePresetSpec(p.str('RENDITION_PRESETS') ?? DEFAULT_PRESETS_SPEC, maxDimension);
  const sizes = parseSizes(p.str('IMAGE_SIZES') ?? '', maxDimension);
  problems.push(...presets.problems, ...sizes.problems);
  const urlSecret = p.str('IMAGE_URL_SECRET');
  if (urlSecret !== undefined && urlSecret.length < 32) {
    problems.push(`IMAGE_URL_SECRET must be at least 32 characters (e.g. \`openssl rand -hex 32\`); it has ${urlSecret.length}`);
  }
  return {
    presets: presets.presets,
    sizes: sizes.sizes,
    urlSecret,
    maxDimension,
    maxPixels: p.int('MAX_IMAGE_PIXELS', 0x3fff * 0x3fff, 1, Number.MAX_SAFE_INTEGER),
    cacheSeconds: p.int('IMAGE_CACHE_SECONDS', 86_400, 0, 31_536_000),
    renderWaitSeconds: p.int('IMAGE_RENDER_WAIT_SECONDS', 30, 1, 600),
  };
}

/** See UploadsConfig.hashThreads. */
export function defaultHashThreads(cpus: number): number {
  return cpus <= 1 ? 0 : Math.min(4, Math.max(1, cpus - 2));
}

class Parser {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  str(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, def: number, min: number, max: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return def;
    }
    return n;
  }

  /** Bytes: a plain integer, or with a unit: 512K, 5M, 5MiB, 1G, 1GB (all binary). */
  bytes(name: string, def: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const parsed = parseBytes(raw);
    if (parsed === undefined) {
      this.problems.push(`${name} must be a size like 1048576, 512K, 5M or 1G (got "${raw}")`);
      return def;
    }
    return parsed;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      this.problems.push(`${name} must be a URL starting with ${protocols.map((x) => `${x}//`).join(' or ')} (got "${raw}")`);
      return undefined;
    }
  }

  list(name: string): string[] {
    return (this.str(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  /** `user:secret,user2:secret2` → Map. */
  pairs(name: string): Map<string, string> {
    const map = new Map<string, string>();
    for (const item of this.list(name)) {
      const i = item.indexOf(':');
      if (i <= 0 || i === item.length - 1) {
        this.problems.push(`${name} must be a comma-separated list of user:secret pairs (got an item without both parts)`);
        continue;
      }
      map.set(item.slice(0, i), item.slice(i + 1));
    }
    return map;
  }

  /**
   * `secret[@lib|lib…]`: the last `@` starts the libraries when what follows is a list of
   * library names (or `*`), so a secret may itself contain `@`.
   */
  credential(name: string, raw: string): CompatCredential {
    const m = /^(.*)@((?:\*|[A-Za-z][A-Za-z0-9._-]{0,63})(?:\|(?:\*|[A-Za-z][A-Za-z0-9._-]{0,63}))*)$/.exec(raw);
    const secret = m ? m[1]! : raw;
    const libraries = m ? [...new Set(m[2]!.split('|'))] : ['default'];
    if (secret.length < MIN_KEY_LENGTH)
      this.problems.push(`${name}: each secret must be at least ${MIN_KEY_LENGTH} characters (one has ${secret.length})`);
    if (libraries.includes('*') && libraries.length > 1)
      this.problems.push(`${name}: "@*" opens every library; list no other library beside it`);
    return { secret, libraries };
  }

  oneOf<T extends string>(name: string, values: readonly T[], def: T): T {
    const raw = this.str(name);
    if (raw === undefined) return def;
    if (!(values as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${values.join(', ')} (got "${raw}")`);
      return def;
    }
    return raw as T;
  }
}

export function parseBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g' | 't';
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit];
  const n = Math.floor(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : undefined;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Map)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** A URL template must say where the id goes, or every import would fetch the same photo. */
function withIdPlaceholder(name: string, url: string | undefined, problems: string[]): string | undefined {
  if (url === undefined || url.includes('{id}')) return url;
  problems.push(`${name} must contain {id} where the photo's id goes, e.g. http://mirror.local/photos/{id}.jpg (got "${url}")`);
  return undefined;
}
