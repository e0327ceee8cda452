// Fault: the worker process is killed with SIGKILL in the middle of an external library's
// scan (issue 20), twice, and started again. The entry map's atomic claims, the scan
// cursor's compare-and-set and the fixed job ids must leave exactly one resource per
// file and exact batch counts.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEntry, type Proc } from '../harness/process.js';
import { redisEnv, startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

const FILES = 300;
type BatchView = {
  id: number;
  state: string;
  scanned: number;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  missing: number;
};

describe('worker killed with SIGKILL mid-scan of an external library', () => {
  let svc: TestService;
  let root: string;
  const procs: Proc[] = [];
  const env = () => ({
    EXTERNAL_ROOTS: root,
    EXTERNAL_POLL_SECONDS: '0',
    REPROCESS_CHUNK_SIZE: '20',
    JOB_STALLED_INTERVAL_MS: '1000',
    JOB_MAX_STALLED: '100',
  });

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-ext-kill-'));
    for (let d = 0; d < 3; d++) {
      const dir = path.join(root, 'drop', `d${d}`);
      await fs.mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: FILES / 3 }, (_, i) => fs.writeFile(path.join(dir, `f${String(i).padStart(3, '0')}.txt`), `file ${d}/${i}\n`)),
      );
    }
    svc = await startService('fs', { worker: false, env: env() });
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await svc?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  const startWorker = async (): Promise<Proc> => {
    const p = runEntry('worker/main.ts', {
      ...redisEnv(svc),
      ...env(),
      REDIS_PREFIX: svc.config.redis.prefix,
      DATA_DIR: svc.config.process.dataDir,
      STORAGE_DRIVER: 'fs',
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: '4',
      JOB_ATTEMPTS: '5',
      MALLOC_ARENA_MAX: '2',
      WORKER_METRICS_PORT: '0',
    });
    procs.push(p);
    await p.waitFor(/worker started/, 30_000);
    return p;
  };
  const batch = async (id: number) => (await (await svc.fetch(`/v1/batches/${id}`)).json()) as BatchView;

  it('leaves exactly one resource per file and exact counts', { timeout: 120_000 }, async () => {
    const lib = (await (
      await svc.fetch('/v1/libraries', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'drop', source: { type: 'fs', path: path.join(root, 'drop') } }),
      })
    ).json()) as { id: number };
    const started = (await (await svc.fetch(`/v1/libraries/${lib.id}/scan`, { method: 'POST' })).json()) as BatchView;

    let worker = await startWorker();
    const kills: number[] = [];
    for (const at of [40, 160]) {
      const seen = await until(
        `the scan past ${at} entries`,
        async () => {
          const b = await batch(started.id);
          return b.scanned >= at || b.state !== 'running' ? b : undefined;
        },
        60_000,
        20,
      );
      worker.child.kill('SIGKILL');
      await worker.exited;
      kills.push(seen.scanned);
      worker = await startWorker();
    }
    const end = await until(
      'the scan to complete',
      async () => {
        const b = await batch(started.id);
        return b.state === 'completed' ? b : undefined;
      },
      90_000,
    );
    expect(end).toMatchObject({ scanned: FILES, total: FILES, done: FILES, failed: 0, skipped: 0, missing: 0 });
    const recs = (await svc.core.catalog.listResources({ library: lib.id, limit: 1000 })).items;
    expect(recs).toHaveLength(FILES);
    expect(new Set(recs.map((r) => r.storageKey)).size).toBe(FILES);
    expect(recs.filter((r) => r.status !== 'ready')).toEqual([]);
    expect(recs.every((r) => r.fileVersion === 1)).toBe(true);

    // A rescan after the kills finds nothing new.
    const again = (await (await svc.fetch(`/v1/libraries/${lib.id}/scan`, { method: 'POST' })).json()) as BatchView;
    const second = await until('the rescan', async () => {
      const b = await batch(again.id);
      return b.state === 'completed' ? b : undefined;
    });
    expect(second).toMatchObject({ scanned: FILES, total: 0, missing: 0 });
    expect(await svc.core.catalog.countResources(lib.id)).toBe(FILES);
    console.log(`external scan kill: killed at ${kills.join(' and ')} entries scanned; ${FILES} files, ${FILES} resources`);
    worker.child.kill('SIGTERM');
    await worker.exited;
  });
});
