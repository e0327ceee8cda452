import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../shared/embedded-redis.js';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { ROOT, runEntry, type Proc } from '../harness/process.js';

const KEY = 'process-test-key-0123456789';

/**
 * The two production processes, separately, as `npm run api` and `npm run worker` start
 * them: compiled by `tsc -p tsconfig.build.json`, run by `node --enable-source-maps`.
 * The build goes into a folder of its own under dist/ (not dist/ itself, so a concurrent
 * `npm run build` is not disturbed; under the repository, so node_modules resolves).
 * test/e2e/scale-out.test.ts and the faults suite run the same entry points from source
 * through tsx.
 */
describe('npm run api + npm run worker', () => {
  const procs: Proc[] = [];
  let dataDir: string;
  const outDir = path.join(ROOT, 'dist', `e2e-${randomBytes(4).toString('hex')}`);
  const apiEntry = path.join(outDir, 'api/main.js');
  const workerEntry = path.join(outDir, 'worker/main.js');
  beforeAll(async () => {
    await promisify(execFile)(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
      { cwd: ROOT },
    );
  }, 180_000);
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    await fs.rm(outDir, { recursive: true, force: true });
  });

  it('refuses to start without REDIS_URL and API_KEYS, naming both', async () => {
    const api = runEntry(apiEntry, { DATA_DIR: os.tmpdir() });
    procs.push(api);
    expect((await api.exited).code).toBe(1);
    expect(api.output()).toMatch(/REDIS_URL \(e\.g\. redis:\/\/localhost:6379\) or REDIS_CLUSTER_NODES \(.*\) is required/);
    expect(api.output()).toMatch(/API_KEYS is required/);
  });

  it('process an upload end to end, and finish an in-flight upload on SIGTERM before exiting', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-procs-'));
    const port = await freePort();
    const env = {
      PORT: String(port),
      DATA_DIR: dataDir,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: `p${randomBytes(4).toString('hex')}`,
      API_KEYS: KEY,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '10000',
    };
    const api = runEntry(apiEntry, env);
    const worker = runEntry(workerEntry, env);
    procs.push(api, worker);
    await Promise.all([api.waitFor(/api listening/), worker.waitFor(/worker started/)]);
    const url = `http://127.0.0.1:${port}`;

    // A slow upload: 20 chunks, 50 ms apart. SIGTERM arrives while it is streaming.
    const boundary = 'slow';
    const chunks = [
      multipartFileHead(boundary, 'file', 'slow.bin'),
      ...Array.from({ length: 20 }, (_, i) => Buffer.alloc(4096, i)),
      multipartEnd(boundary),
    ];
    const length = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
    const upload = rawRequest(`${url}/v1/libraries/default/files?wait=20`, {
      headers: { authorization: `Bearer ${KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': length },
      chunks,
      chunkDelayMs: 50,
    });
    await new Promise((r) => setTimeout(r, 300));
    api.child.kill('SIGTERM');
    const res = await upload;
    expect(res).not.toBe('hung-up');
    if (res === 'hung-up') return;
    expect(res.status).toBe(204);
    expect(res.headers['x-resource-id']).toMatch(/^\d+$/);
    expect((await api.exited).code).toBe(0);
    expect(api.output()).toMatch(/"signal":"SIGTERM"/);
    // New connections are refused once it stopped.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  }, 60_000);
});
