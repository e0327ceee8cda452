import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** The script that runs the one-node Ceph cluster with its S3 gateway (radosgw). */
export const CEPH_RGW_SCRIPT = path.resolve(import.meta.dirname, '../../scripts/ceph-rgw.sh');
/** Debian's packages for it (Ceph 16 on bookworm, ~270 MB). */
export const CEPH_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd'];
/**
 * Objects the test cluster may hold; memstore takes memory only as objects arrive, and
 * test files remove their buckets' objects when they close.
 */
const MEMSTORE_BYTES = String(1024 * 1024 * 1024);

export interface S3Credentials {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

export interface S3ServerHandle extends S3Credentials {
  dir: string;
  /** Stop the gateway only (an S3 outage); `abrupt` kills it mid-request, as a crash would. */
  stopGateway(how?: { abrupt?: boolean }): Promise<void>;
  /** Start the gateway again, on the same port, over the same data. */
  startGateway(): Promise<void>;
  /** Stop the whole cluster and remove its directory. */
  stop(): Promise<void>;
}

/**
 * Whether the S3 tests can run: Ceph installed, or installed now (as root, from Debian's
 * packages, as `.ci/run` does). `undefined` when ready; otherwise the reason, with the
 * command that fixes it, for the run to print and the S3 suites to skip with.
 */
export async function ensureCeph(log: (line: string) => void = console.log): Promise<string | undefined> {
  if (await cephInstalled()) return undefined;
  const command = `apt-get install -y ${CEPH_PACKAGES.join(' ')}`;
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    return `Ceph's S3 gateway is not installed, so the S3 tests are skipped; install it with: sudo ${command}`;
  }
  log(`Installing Ceph for the S3 tests: ${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-qq', ...CEPH_PACKAGES], { env, maxBuffer: 64 * 1024 * 1024 });
  try {
    await install().catch(async () => {
      // A stale package index names versions the mirror no longer has.
      await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
      await install();
    });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim().split('\n').pop() ?? (err as Error).message;
    return `Installing Ceph failed (${detail}), so the S3 tests are skipped; install it with: ${command}`;
  }
  return (await cephInstalled()) ? undefined : `${command} left Ceph's programs missing, so the S3 tests are skipped.`;
}

async function cephInstalled(): Promise<boolean> {
  return run('bash', [CEPH_RGW_SCRIPT, 'check']).then(
    () => true,
    () => false,
  );
}

/**
 * A one-node Ceph cluster (monitor, memstore OSD, radosgw) on 127.0.0.1, on free ports in
 * its own temp directory. It stops by itself if this process dies without stopping it.
 */
export async function startS3Server(): Promise<S3ServerHandle> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-rgw-'));
  const [rgwPort, monPort] = await Promise.all([freePort(), freePort()]);
  const env = { ...process.env, RGW_PORT: String(rgwPort), MON_PORT: String(monPort), MEMSTORE_BYTES, WATCH_PID: String(process.pid) };
  const script = (...args: string[]) => run('bash', [CEPH_RGW_SCRIPT, ...args], { env, timeout: 120_000 });
  let out: string;
  try {
    out = (await script('start', dir)).stdout;
  } catch (err) {
    await script('stop', dir).catch(() => undefined);
    const logs = await tailLogs(dir);
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(
      `The Ceph S3 gateway did not start: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}\n${logs}`,
      { cause: err },
    );
  }
  const vars = Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return {
    endpoint: vars.S3_ENDPOINT!,
    accessKey: vars.S3_ACCESS_KEY!,
    secretKey: vars.S3_SECRET_KEY!,
    dir,
    async stopGateway(how = {}) {
      await script('stop-gateway', dir, ...(how.abrupt ? ['--abrupt'] : []));
    },
    async startGateway() {
      await script('start-gateway', dir);
    },
    async stop() {
      await script('stop', dir, '--kill').catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** The last lines of each daemon's log, for a start that failed. */
async function tailLogs(dir: string): Promise<string> {
  const logDir = path.join(dir, 'log');
  const names = await fs.readdir(logDir).catch(() => [] as string[]);
  const parts = await Promise.all(
    names.map(async (n) => `--- ${n}\n${(await fs.readFile(path.join(logDir, n), 'utf8')).trim().split('\n').slice(-8).join('\n')}`),
  );
  return parts.join('\n');
}
