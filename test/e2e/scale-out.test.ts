// Horizontal scale-out, for real: 2 API processes and 3 worker processes (`npm run api`,
// `npm run worker`) on one Redis and one store. 1,000 uploads spread over both APIs are
// each processed exactly once, and a worker SIGKILLed midway changes nothing in the
// outcome: its active jobs come back through BullMQ's stalled-job recovery.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Catalog } from '../../shared/catalog/catalog.js';
import { freePort } from '../../shared/embedded-redis.js';
import { createRedis } from '../../shared/redis.js';
import { runEntry, type Proc } from '../harness/process.js';
import { until } from '../harness/until.js';

const KEY = 'scale-out-test-key-0123456789';
const UPLOADS = 1_000;
const IN_FLIGHT = 16;

/** Lines of pino JSON output with a given msg. */
function logLines(p: Proc, msg: string): Record<string, unknown>[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Jobs a worker started and had not finished (completed or failed) by now. */
function unfinished(p: Proc): string[] {
  const done = new Set([...logLines(p, 'job completed'), ...logLines(p, 'job failed')].map((l) => l.jobId));
  return logLines(p, 'job started')
    .map((l) => l.jobId as string)
    .filter((id) => !done.has(id));
}

function metric(text: string, name: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('2 API processes + 3 worker processes on one Redis and one store', () => {
  const procs: Proc[] = [];
  let dataDir: string;
  const redis = createRedis(inject('redisUrl'), 'catalog');
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    redis.disconnect();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('processes 1,000 uploads spread over both APIs exactly once, a worker SIGKILLed midway changing nothing', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-scale-'));
    const prefix = `so${randomBytes(4).toString('hex')}`;
    const ports = [await freePort(), await freePort()];
    const common = {
      DATA_DIR: dataDir,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: prefix,
      API_KEYS: KEY,
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_MINUTE: '0',
      SHUTDOWN_TIMEOUT_MS: '5000',
      // Recovery of the killed worker's jobs within seconds instead of a minute.
      JOB_STALLED_INTERVAL_MS: '3000',
      WORKER_CONCURRENCY: '4',
      WORKER_METRICS_PORT: '0',
      EXIFTOOL_MAX_PROCS: '1',
      // The allocator chosen up front, so worker/allocator.ts does not restart a worker
      // under a relay process: the SIGKILL below must hit the process doing the jobs.
      MALLOC_ARENA_MAX: '2',
    };
    const apis = ports.map((port) => runEntry('api/main.ts', { ...common, PORT: String(port), HOST: '127.0.0.1' }));
    // The victim logs at debug level: its "job started" lines tell when it holds jobs.
    const workers = [0, 1, 2].map((i) => runEntry('worker/main.ts', { ...common, LOG_LEVEL: i === 0 ? 'debug' : 'info' }));
    procs.push(...apis, ...workers);
    await Promise.all([
      ...apis.map((a) => a.waitFor(/api listening/, 120_000)),
      ...workers.map((w) => w.waitFor(/worker started/, 120_000)),
    ]);
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);

    // Distinct contents (the default library rejects duplicates), each with its own request id.
    const sent = new Map<number, { sha: string; requestId: string; size: number }>();
    let next = 0;
    let killed = false;
    const victim = workers[0]!;
    const uploadOne = async (i: number) => {
      const data = `file ${i} ${randomBytes(12).toString('hex')}\n`.repeat(1 + (i % 7));
      const requestId = `so-${i}`;
      const fd = new FormData();
      fd.append('file', new Blob([data], { type: 'text/plain' }), `f${i}.txt`);
      const res = await fetch(`${urls[i % 2]}/v1/libraries/default/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'x-request-id': requestId },
        body: fd,
      });
      expect(res.status, await res.clone().text()).toBe(202);
      const id = Number(res.headers.get('x-resource-id'));
      sent.set(id, { sha: createHash('sha256').update(data).digest('hex'), requestId, size: Buffer.byteLength(data) });
    };
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < UPLOADS; i = next++) {
          await uploadOne(i);
          // Midway: once the victim has done real work, while it holds jobs, and uploads are still arriving.
          if (!killed && logLines(victim, 'job completed').length >= 60 && unfinished(victim).length > 0) {
            killed = true;
            victim.child.kill('SIGKILL');
          }
        }
      }),
    );
    expect(killed, 'the victim worker completed 60 jobs before the uploads ended').toBe(true);
    expect((await victim.exited).signal).toBe('SIGKILL');
    expect(sent.size).toBe(UPLOADS);
    const orphaned = unfinished(victim);
    expect(orphaned.length).toBeGreaterThan(0);

    // Every record leaves `processing`, and is ready.
    const catalog = new Catalog(redis, prefix);
    const ids = [...sent.keys()];
    const settled = async () => {
      const list = await catalog.getResources(ids);
      return !list.some((r) => r?.status === 'processing') && list;
    };
    // Short of that, the count by status below says what is left.
    const records = await until('every record to leave processing', settled, 60_000, 250).catch(() => catalog.getResources(ids));
    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r?.status ?? 'missing'] = (byStatus[r?.status ?? 'missing'] ?? 0) + 1;
    expect(byStatus).toEqual({ ready: UPLOADS });
    for (const r of records) expect(r!.checksum).toBe(sent.get(r!.id)!.sha);
    // No resource more than was uploaded, no stray original in the store.
    const library = await catalog.getLibrary('default');
    expect(await catalog.countResources(library.id)).toBe(UPLOADS);
    const files = await fs.readdir(path.join(dataDir, 'objects'), { recursive: true });
    expect(files.filter((f) => /original\./.test(f))).toHaveLength(UPLOADS);

    // Exactly once: each job completed once over all workers (BullMQ refuses a second
    // completion of a job whose lock moved on), and the survivors took the victim's.
    const survivors = workers.slice(1);
    const completions = workers.flatMap((w) => logLines(w, 'job completed')).filter((l) => l.queue === 'ingest');
    const jobIds = completions.map((l) => l.jobId as string);
    const logged = new Set(jobIds);
    // None completed twice. A SIGKILL between BullMQ's commit of a completion and the
    // 'completed' event that logs it loses that line (the record above is ready): at most
    // the victim's WORKER_CONCURRENCY jobs; every other job's line is there.
    expect(jobIds).toHaveLength(logged.size);
    expect(UPLOADS - logged.size).toBeLessThanOrEqual(4);
    for (const w of survivors) expect(logLines(w, 'job completed').length).toBeGreaterThan(0);
    // The jobs the victim held when it died were finished by the survivors.
    const bySurvivors = new Set(survivors.flatMap((w) => logLines(w, 'job completed')).map((l) => l.jobId));
    // Except those the victim had committed when it died, before their log line (above):
    // no process logged them, and there are no more of them than lines missing.
    const notBySurvivors = orphaned.filter((jobId) => !bySurvivors.has(jobId));
    for (const jobId of notBySurvivors) expect(logged.has(jobId)).toBe(false);
    expect(notBySurvivors.length).toBeLessThanOrEqual(UPLOADS - logged.size);
    // The request id of each upload followed its file into the worker's log.
    const requestIds = new Set([...sent.values()].map((s) => s.requestId));
    expect(new Set(completions.map((l) => l.requestId)).size).toBe(logged.size);
    for (const l of completions) expect(requestIds.has(l.requestId as string)).toBe(true);

    // Metrics: both APIs counted their share of the bytes; a worker serves its own registry.
    const apiMetrics = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()));
    const bytes = apiMetrics.reduce((n, t) => n + metric(t, 'media_ingest_ingested_bytes_total{source="upload"}'), 0);
    expect(bytes).toBe([...sent.values()].reduce((n, s) => n + s.size, 0));
    const metricsPort = (await survivors[0]!.waitFor(/"metricsPort":(\d+)/))[1];
    const workerMetrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metric(workerMetrics, 'media_ingest_job_duration_seconds_count{queue="ingest",job="ingest",outcome="completed"}')).toBe(
      logLines(survivors[0]!, 'job completed').filter((l) => l.queue === 'ingest').length,
    );

    // Rolling stop: SIGTERM everything left; each exits cleanly.
    for (const p of [...apis, ...survivors]) p.child.kill('SIGTERM');
    for (const p of [...apis, ...survivors]) expect((await p.exited).code).toBe(0);
  }, 300_000);
});
