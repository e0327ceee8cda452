import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseBytes } from '../../shared/config.js';

describe('loadConfig', () => {
  it('runs on one machine with no configuration at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      http: { port: 3000 },
      redis: { url: undefined, prefix: 'mi' },
      storage: { driver: 'fs' },
      auth: { apiKeys: [] },
      uploads: { maxBytes: 1024 ** 3 },
    });
    expect(c.storage.driver === 'fs' && c.storage.root.endsWith('/data/objects')).toBe(true);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.storage)).toBe(true);
  });

  it('reports every bad variable together, each saying what to change', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        STORAGE_DRIVER: 's3',
        MAX_UPLOAD_BYTES: 'lots',
        REDIS_URL: 'http://x',
        API_KEYS: 'short',
        LOG_LEVEL: 'loud',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of [
      'PORT',
      'S3_ENDPOINT',
      'S3_ACCESS_KEY',
      'S3_SECRET_KEY',
      'MAX_UPLOAD_BYTES',
      'REDIS_URL',
      'API_KEYS',
      'LOG_LEVEL',
    ]) {
      expect(problems).toContain(name);
    }
    expect(problems).toContain('(got "eighty")');
    expect((err as ConfigError).problems.length).toBe(8);
  });

  it('REDIS_CLUSTER_NODES: a seed list of host:port; with REDIS_URL too, one error naming both', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:6379, 10.0.0.2:7000,[::1]:7001' }).redis.clusterNodes).toEqual([
      { host: 'redis-1', port: 6379 },
      { host: '10.0.0.2', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:6379', REDIS_URL: 'redis://x:6379' })).toThrow(
      /REDIS_URL and REDIS_CLUSTER_NODES are both set/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis-1' })).toThrow(
      /REDIS_CLUSTER_NODES must be a comma-separated list of host:port .* "redis-1"/,
    );
  });

  it('parses the S3 settings from one endpoint URL', () => {
    const c = loadConfig({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'https://minio.example:9443',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      S3_PART_SIZE: '8M',
    });
    expect(c.storage).toMatchObject({
      driver: 's3',
      endPoint: 'minio.example',
      port: 9443,
      useSSL: true,
      bucket: 'media-ingest',
      partSize: 8 * 1024 ** 2,
    });
  });

  it('refuses an S3 part size below the protocol minimum', () => {
    expect(() =>
      loadConfig({ STORAGE_DRIVER: 's3', S3_ENDPOINT: 'http://m:9000', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b', S3_PART_SIZE: '1M' }),
    ).toThrow(/at least 5 MiB/);
  });

  it('takes the tus expiry and sweep interval, a day and a minute by default', () => {
    expect(loadConfig({}).uploads.tus).toEqual({ expirySeconds: 86_400, sweepIntervalSeconds: 60 });
    expect(loadConfig({ TUS_EXPIRY_SECONDS: '3600', TUS_SWEEP_INTERVAL_SECONDS: '0' }).uploads.tus).toEqual({
      expirySeconds: 3600,
      sweepIntervalSeconds: 0,
    });
    expect(() => loadConfig({ TUS_EXPIRY_SECONDS: '0' })).toThrow('TUS_EXPIRY_SECONDS must be an integer from 1 to 2592000 (got "0")');
  });

  it('parses compat credentials as user:secret pairs, each confined to its libraries (default: `default`)', () => {
    const c = loadConfig({
      RESOURCESPACE_USERS: 'admin:k1-0123456789abcdef,bob:k:2-0123456789abcdef@photos|news',
      CONNECTIONS_USERS: 'ann:pw-0123456789abcdef',
      COPERNICA_TOKENS: 'tok@en-0123456789abcdef@*',
      FLOTIQ_API_KEYS: 'flotiq-0123456789abcdef',
    });
    expect([...c.compat.resourceSpaceUsers]).toEqual([
      ['admin', { secret: 'k1-0123456789abcdef', libraries: ['default'] }],
      ['bob', { secret: 'k:2-0123456789abcdef', libraries: ['photos', 'news'] }],
    ]);
    // The last @ starts the libraries; a secret may contain @ itself.
    expect(c.compat.copernicaTokens).toEqual([{ secret: 'tok@en-0123456789abcdef', libraries: ['*'] }]);
    expect(c.compat.flotiqApiKeys).toEqual([{ secret: 'flotiq-0123456789abcdef', libraries: ['default'] }]);
    expect(() => loadConfig({ RESOURCESPACE_USERS: 'nocolon' })).toThrow(
      /RESOURCESPACE_USERS must be a comma-separated list of user:secret pairs/,
    );
  });

  it('refuses compat secrets shorter than API keys', () => {
    expect(() => loadConfig({ RESOURCESPACE_USERS: 'admin:k1' })).toThrow(
      /RESOURCESPACE_USERS: each secret must be at least 16 characters \(one has 2\)/,
    );
    expect(() => loadConfig({ COPERNICA_TOKENS: 'short@photos' })).toThrow(/COPERNICA_TOKENS: each secret must be at least 16 characters/);
    expect(() => loadConfig({ FLOTIQ_API_KEYS: 'short' })).toThrow(/FLOTIQ_API_KEYS: each secret must be at least 16/);
    expect(() => loadConfig({ CONNECTIONS_USERS: 'ann:pw' })).toThrow(
      /CONNECTIONS_USERS: the password of "ann" must be at least 16 characters/,
    );
    expect(() => loadConfig({ FLOTIQ_API_KEYS: 'flotiq-0123456789abcdef@*|photos' })).toThrow(/"@\*" opens every library/);
  });

  it('security defaults: 30 failed authentications a minute, 64 KiB JSON bodies, 64 connections per client, 30 s for a body', () => {
    const c = loadConfig({});
    expect(c.auth.authFailuresPerMinute).toBe(30);
    expect(c.http.jsonBodyMaxBytes).toBe(64 * 1024);
    expect(c.http.maxConnectionsPerClient).toBe(64);
    expect(c.http.requestTimeoutMs).toBe(30_000);
    expect(loadConfig({ JSON_BODY_MAX_BYTES: '1M', AUTH_FAILURES_PER_MINUTE: '0' })).toMatchObject({
      http: { jsonBodyMaxBytes: 1024 * 1024 },
      auth: { authFailuresPerMinute: 0 },
    });
    expect(() => loadConfig({ JSON_BODY_MAX_BYTES: '100' })).toThrow(/JSON_BODY_MAX_BYTES must be at least 1K/);
  });

  it('takes UNSPLASH_SOURCE_URL only as an http(s) URL with {id} in it', () => {
    expect(loadConfig({}).compat.unsplashSourceUrl).toBeUndefined();
    expect(loadConfig({ UNSPLASH_SOURCE_URL: 'http://mirror.local/photos/{id}.jpg' }).compat.unsplashSourceUrl).toBe(
      'http://mirror.local/photos/{id}.jpg',
    );
    expect(() => loadConfig({ UNSPLASH_SOURCE_URL: 'http://mirror.local/photos/latest.jpg' })).toThrow(
      /UNSPLASH_SOURCE_URL must contain \{id\}/,
    );
    expect(() => loadConfig({ UNSPLASH_SOURCE_URL: 'ftp://mirror.local/{id}' })).toThrow(
      /UNSPLASH_SOURCE_URL must be a URL starting with http:\/\/ or https:\/\//,
    );
  });

  it.each([
    ['1048576', 1048576],
    ['512K', 512 * 1024],
    ['5M', 5 * 1024 ** 2],
    ['5MiB', 5 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['2 gb', 2 * 1024 ** 3],
  ])('parseBytes(%s) = %d', (raw, n) => expect(parseBytes(raw)).toBe(n));

  it.each(['', 'M', '-1', '1X', '1e9'])('parseBytes(%j) is not a size', (raw) => expect(parseBytes(raw)).toBeUndefined());
});
