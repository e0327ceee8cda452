import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, type S3StorageConfig } from '../../shared/config.js';
import { freePort } from '../../shared/embedded-redis.js';
import { S3ObjectStore } from '../../shared/storage/s3-store.js';
import { benchTempDir, onBenchExit, repoRoot } from './proc.js';

const run = promisify(execFile);
const SCRIPT = path.join(repoRoot, 'scripts/ceph-rgw.sh');

/** The storage driver a scenario runs on: `fs` (local disk) or `s3` (Ceph's radosgw on this machine). */
export type BenchDriver = 'fs' | 's3';

export interface Rgw {
  /** STORAGE_DRIVER=s3 and the S3_* variables for it (add S3_BUCKET). */
  env: Record<string, string>;
  /** Peak RSS of the three daemons together (monitor, OSD, radosgw), from VmHWM. */
  peakRssMiB(): number;
  /** CPU seconds of the three daemons so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * A one-node Ceph cluster with radosgw (scripts/ceph-rgw.sh) in a temp dir, stopped when
 * the bench exits. Objects live in the OSD's memory (memstore): a scenario deletes what
 * it stored before the next variant.
 */
export async function startRgw(memstoreBytes: number): Promise<Rgw> {
  const { dir, forget } = await benchTempDir('mi-bench-rgw-');
  const env = {
    ...process.env,
    RGW_PORT: String(await freePort()),
    MON_PORT: String(await freePort()),
    MEMSTORE_BYTES: String(memstoreBytes),
    WATCH_PID: String(process.pid),
  };
  const stopSync = () => {
    try {
      execFileSync('bash', [SCRIPT, 'stop', dir, '--kill'], { stdio: 'ignore' });
    } catch {
      // best effort: the bench is exiting
    }
  };
  const unhook = onBenchExit(stopSync);
  const out = (await run('bash', [SCRIPT, 'start', dir], { env, timeout: 180_000 })).stdout;
  const vars = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const pids = ['mon.a', 'osd.0', 'client.rgw'].map((n) => Number(readFileSync(path.join(dir, 'run', `${n}.pid`), 'utf8')));
  const status = (pid: number, field: RegExp) => Number(field.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return {
    env: { STORAGE_DRIVER: 's3', S3_ENDPOINT: vars.S3_ENDPOINT!, S3_ACCESS_KEY: vars.S3_ACCESS_KEY!, S3_SECRET_KEY: vars.S3_SECRET_KEY! },
    peakRssMiB: () => pids.reduce((n, pid) => n + status(pid, /^VmHWM:\s+(\d+)/m), 0) / 1024,
    cpuSeconds: () =>
      pids.reduce((n, pid) => {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return n + (Number(fields[11]) + Number(fields[12])) / 100;
      }, 0),
    async stop() {
      stopSync();
      unhook();
      rmSync(dir, { recursive: true, force: true });
      forget();
    },
  };
}

/** An S3 store on the bench's radosgw, in `bucket` (created). */
export async function rgwStore(rgw: Rgw, bucket: string): Promise<S3ObjectStore> {
  const store = new S3ObjectStore(loadConfig({ ...rgw.env, S3_BUCKET: bucket }).storage as S3StorageConfig);
  await store.ensureBucket();
  return store;
}

/** Delete every object in the store (the OSD holds them in memory). */
export async function emptyStore(store: S3ObjectStore): Promise<void> {
  const keys: string[] = [];
  for await (const o of store.list('')) keys.push(o.key);
  for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
}
