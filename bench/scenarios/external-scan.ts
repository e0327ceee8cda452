import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { queuePrefix } from '../../shared/catalog/keys.js';
import { BULK_QUEUE } from '../../shared/jobs/lanes.js';
import { createRedis } from '../../shared/redis.js';
import { BENCH_KEY, startStack } from '../lib/images.js';
import { procStats, removeOnExit } from '../lib/proc.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

/**
 * A scan of an external library's folder of many small files (issue 20): the listing and
 * the enqueue — records created, ingest jobs queued, then the pass over the library's
 * resources that looks for missing files — timed from `POST /v1/libraries/{id}/scan` to
 * the batch's `enqueuedAll`. Then the rescan of the same, unchanged folder. The ingest
 * jobs themselves are not part of it (they are the upload pipeline's benches).
 */
export const externalScan: Scenario = {
  name: 'external-scan',
  description:
    'Scan of an external fs library of 100,000 small files: listing + enqueue in entries/s, then an unchanged rescan; API and worker peak RSS.',

  async run(): Promise<ScenarioResult> {
    const files = envInt('BENCH_SCAN_FILES', 100_000);
    const perDir = 1000;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-bench-scan-'));
    const forget = removeOnExit(dir);
    const source = path.join(dir, 'source');
    for (let d = 0; d * perDir < files; d++) {
      const sub = path.join(source, `d${String(d).padStart(4, '0')}`);
      await fs.mkdir(sub, { recursive: true });
      const n = Math.min(perDir, files - d * perDir);
      await Promise.all(
        Array.from({ length: n }, (_, i) => fs.writeFile(path.join(sub, `f${String(i).padStart(4, '0')}.txt`), `file ${d}/${i}\n`)),
      );
    }
    // One bulk slot: the scan's steps (no priority) always run before the ingest jobs it
    // queues (bulk priority), so what is timed is the scan alone. No throttle window.
    const env = { EXTERNAL_ROOTS: dir, EXTERNAL_POLL_SECONDS: '0', BULK_CONCURRENCY: '1', REPROCESS_MAX_QUEUED: '1000000' };
    const stack = await startStack(path.join(dir, 'stack'), { worker: { jemalloc: false }, api: true, env });
    const queueRedis = createRedis(stack.redis.url, 'queue');
    const bulk = new Queue(BULK_QUEUE, { connection: queueRedis, prefix: queuePrefix(stack.config.redis.prefix, BULK_QUEUE) });
    try {
      const api = (p: string, init: RequestInit = {}) =>
        fetch(`${stack.apiUrl}${p}`, {
          ...init,
          headers: {
            authorization: `Bearer ${BENCH_KEY}`,
            'content-type': 'application/json',
            ...(init.headers as Record<string, string>),
          },
        });
      const lib = (await (
        await api('/v1/libraries', {
          method: 'POST',
          body: JSON.stringify({ name: 'nas', dedupe: 'allow', source: { type: 'fs', path: source } }),
        })
      ).json()) as { id: number };
      const scan = async (): Promise<{ id: number; seconds: number; scanned: number; enqueued: number }> => {
        const t = performance.now();
        const b = (await (await api(`/v1/libraries/${lib.id}/scan`, { method: 'POST' })).json()) as { id: number };
        for (;;) {
          const v = await stack.core.catalog.batches.get(b.id);
          if (v?.state === 'failed') throw new Error(`scan failed: ${v.error}`);
          if (v?.enqueuedAll) return { id: b.id, seconds: (performance.now() - t) / 1000, scanned: v.scanned, enqueued: v.enqueued };
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const first = await scan();
      if (first.scanned !== files || first.enqueued !== files)
        throw new Error(`first scan saw ${first.scanned} and queued ${first.enqueued} of ${files}`);
      // The queued ingest jobs are dropped: the records stay "processing", which a rescan of unchanged files does not touch.
      await bulk.pause();
      await bulk.drain();
      await bulk.resume();
      // Its jobs will never end now: cancelled, so the library may be scanned again.
      await api(`/v1/batches/${first.id}`, { method: 'DELETE' });
      const second = await scan();
      if (second.enqueued !== 0) throw new Error(`the rescan queued ${second.enqueued} files`);
      const apiRss = procStats(stack.api!.pid).peakRssMiB;
      const workerRss = procStats(stack.worker!.pid).peakRssMiB;
      return {
        parameters: {
          BENCH_SCAN_FILES: files,
          'files per folder': perDir,
          'file size': '~14 B',
          REPROCESS_CHUNK_SIZE: stack.config.jobs.reprocess.chunkSize,
          BULK_CONCURRENCY: 1,
        },
        variants: [
          {
            name: 'first scan (create + enqueue every file, then the missing pass)',
            role: 'subject',
            figures: {
              seconds: { value: first.seconds, unit: 's', digits: 1 },
              rate: { value: files / first.seconds, unit: 'entries/s', digits: 0 },
            },
          },
          {
            name: 'rescan, nothing changed',
            role: 'subject',
            figures: {
              seconds: { value: second.seconds, unit: 's', digits: 1 },
              rate: { value: files / second.seconds, unit: 'entries/s', digits: 0 },
            },
          },
        ],
        checks: [
          { name: 'API peak RSS', value: apiRss, unit: 'MiB', digits: 0 },
          { name: 'worker peak RSS', value: workerRss, unit: 'MiB', digits: 0 },
        ],
        notes: [
          "Timed from POST /v1/libraries/{id}/scan to the batch's enqueuedAll: the listing (a sorted depth-first walk, one folder in memory at a time), per file one claim script, an id, a record and an ingest job (queued per page in one round trip), then one pass over the library's resources to find missing files: a page of them (REPROCESS_CHUNK_SIZE) is checked against the entry map in one pipelined script call per Redis node (miExtSweep in shared/external/entries.ts), and only the entries that change cost more.",
          'The ingest jobs are not run (one bulk slot; the steps go first by priority; the queued jobs are dropped and the first batch cancelled before the rescan).',
          'A rescan costs one claim script per file (no id, no record, no job) plus the same pass over the resources.',
          "Peak RSS is VmHWM over each process's life (the API only answers the scan request; the scan runs in the worker).",
        ],
      };
    } finally {
      await bulk.close();
      queueRedis.disconnect();
      await stack.stop();
      await fs.rm(dir, { recursive: true, force: true });
      forget();
    }
  },
};
