import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface EmbeddedRedis {
  url: string;
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** Data directory (AOF and RDB files). */
  dir: string;
  /** Append-only file on: every acknowledged write survives a crash. @defaultValue true */
  appendonly?: boolean;
  /** @defaultValue a free port */
  port?: number;
  /** More redis-server arguments (the test harness's cluster nodes). */
  extraArgs?: readonly string[];
  /**
   * Run redis-server in a process group of its own (`npm start`). In ours, a Ctrl-C or a
   * `kill -- -<pgid>` meant for the service would stop Redis at once, while the service
   * still drains uploads and jobs that need it; on its own it is stopped by `stop()`,
   * last. Its pid file in `dir` lets the next start stop one a killed service left
   * running, so two servers never share the data dir. @defaultValue false
   */
  ownProcessGroup?: boolean;
}

/**
 * A private redis-server as a child process: loopback only, its own port and data
 * dir. Used by `npm start` (AOF on), and by the test harness and benches (AOF off).
 */
export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  await fs.mkdir(opts.dir, { recursive: true });
  const pidFile = path.join(opts.dir, 'redis-server.pid');
  if (opts.ownProcessGroup) await stopLeftover(pidFile);
  const port = opts.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    opts.dir,
    '--appendonly',
    opts.appendonly === false ? 'no' : 'yes',
    '--save',
    '',
    '--protected-mode',
    'yes',
    // BullMQ needs keys without TTL kept when memory is full, never evicted.
    '--maxmemory-policy',
    'noeviction',
    ...(opts.extraArgs ?? []),
    ...(opts.ownProcessGroup ? ['--pidfile', pidFile] : []),
  ];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.ownProcessGroup === true });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  proc.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', (err) => reject(new Error(`could not start redis-server: ${err.message}`)));
    proc.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}:\n${output}`)));
  });
  // Raced below and awaited by its caller; this only keeps a later exit from being an unhandled rejection.
  failed.catch(() => undefined);
  const url = `redis://127.0.0.1:${port}`;
  await Promise.race([failed, waitForPing(url)]);
  const kill = () => proc.exitCode === null && proc.kill('SIGTERM');
  process.once('exit', kill);
  return {
    url,
    port,
    proc,
    async stop() {
      process.off('exit', kill);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A redis-server left running on this data dir by a service that was killed (its own
 * process group outlives it): stopped before a new one starts on the same files.
 */
async function stopLeftover(pidFile: string): Promise<void> {
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (!comm.startsWith('redis-server')) return;
  process.kill(pid, 'SIGTERM');
  for (
    let i = 0;
    i < 100 &&
    (await fs.access(`/proc/${pid}`).then(
      () => true,
      () => false,
    ));
    i++
  )
    await new Promise((r) => setTimeout(r, 100));
}

/** Whether `redis-server` is on the PATH. */
export function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

async function waitForPing(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${url}: ${(err as Error).message}`, { cause: err });
      await new Promise((res) => setTimeout(res, 50));
    } finally {
      r.disconnect();
    }
  }
}
