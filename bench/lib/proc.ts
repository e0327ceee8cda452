import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: children run from here so `tsx` and relative paths resolve. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const watchdog = fileURLToPath(new URL('../servers/watchdog.mjs', import.meta.url));

// ---------------------------------------------------------------------------------------
// Cleanup when the bench ends, however it ends.

const exitHooks: (() => void)[] = [];
let hooksInstalled = false;

/**
 * Run `fn` (synchronously) when the bench process exits: normally, on an uncaught
 * error, or on Ctrl-C/SIGTERM/SIGHUP. A SIGKILL is covered by the watchdog instead.
 */
export function onBenchExit(fn: () => void): () => void {
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on('exit', () => {
      for (const hook of [...exitHooks].reverse()) {
        try {
          hook();
        } catch {
          // best effort: the process is going away
        }
      }
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: stopping servers and removing temp files`);
        process.exit(130);
      });
    }
  }
  exitHooks.push(fn);
  return () => {
    const i = exitHooks.indexOf(fn);
    if (i >= 0) exitHooks.splice(i, 1);
  };
}

/** A temp dir removed at the latest when the bench exits. */
export function removeOnExit(dir: string): () => void {
  return onBenchExit(() => rmSync(dir, { recursive: true, force: true }));
}

const OWNER_FILE = '.bench-pid';

/**
 * A fresh dir `<tmp>/<prefix>XXXXXX` for one scenario, removed by `remove()` or when
 * the bench exits. A bench that was
 * SIGKILLed cannot clean up, so first remove earlier dirs of the same prefix whose
 * bench process is gone (dirs of a bench still running are left alone).
 */
export async function benchTempDir(prefix: string): Promise<{ dir: string; forget: () => void; remove: () => Promise<void> }> {
  for (const name of await fs.readdir(os.tmpdir())) {
    if (!name.startsWith(prefix)) continue;
    const stale = path.join(os.tmpdir(), name);
    const owner = Number(await fs.readFile(path.join(stale, OWNER_FILE), 'utf8').catch(() => '0'));
    if (owner > 0 && !isAlive(owner)) await fs.rm(stale, { recursive: true, force: true });
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.writeFile(path.join(dir, OWNER_FILE), String(process.pid));
  const forget = removeOnExit(dir);
  // The end of a scenario (its `finally`): the dir goes now, not at exit.
  const remove = async () => {
    await fs.rm(dir, { recursive: true, force: true });
    forget();
  };
  return { dir, forget, remove };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------
// Server child processes.

export interface NodeChild {
  /** The pid of the node process running the script itself (no wrapper in between). */
  pid: number;
  proc: ChildProcess;
  /** The last few KiB of its stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  env: Record<string, string>;
  /** Pids the child's watchdog kills too if the bench dies without cleaning up. */
  killWithBench?: number[];
  /** Extra flags for node, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
}

/**
 * Runs a TypeScript file as `node --import tsx <script>`: one process (the `tsx` CLI
 * would fork a second one), so the pid we hold is the one whose memory we measure.
 */
export function spawnTs(script: string, opts: SpawnOptions): NodeChild {
  return spawnNode(script, opts, ['--import', 'tsx']);
}

/**
 * The compiled API (`npm run build` first) with the node flags `npm run api` gives it —
 * read from package.json, so a bench measures the process production runs (the image
 * and docker-compose.yml carry the same command; test/unit/deploy-files.test.ts).
 */
export function spawnApi(opts: SpawnOptions): NodeChild {
  const argv = apiCommand().split(' ');
  return spawnNode(argv.at(-1)!, opts, argv.slice(1, -1));
}

/** `npm run api`'s command line (package.json), e.g. `node --enable-source-maps … dist/api/main.js`. */
export function apiCommand(): string {
  const scripts = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const argv = (scripts.api ?? '').trim().split(/\s+/);
  if (argv[0] !== 'node' || argv.at(-1) !== 'dist/api/main.js')
    throw new Error(`package.json's "api" script is not \`node [flags] dist/api/main.js\``);
  return argv.join(' ');
}

function spawnNode(script: string, opts: SpawnOptions, loader: string[]): NodeChild {
  const extraNodeArgs = [...(opts.nodeArgs ?? []), ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const proc = spawn(process.execPath, [...extraNodeArgs, ...loader, '--import', watchdog, script], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...opts.env,
      BENCH_PARENT_PID: String(process.pid),
      BENCH_KILL_WITH_PARENT: (opts.killWithBench ?? []).join(','),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${script}`);
  const pid = proc.pid;
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-8000));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const dispose = onBenchExit(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });

  return {
    pid,
    proc,
    output: () => tail,
    async stop(graceMs = 10_000) {
      dispose();
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 200; fails early if the child died meanwhile. */
export async function waitForHttp(url: string, child: NodeChild, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`server exited (${child.proc.exitCode ?? child.proc.signalCode}) before answering ${url}:\n${child.output()}`);
    }
    const status = await new Promise<number>((resolve) => {
      const req = http.get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`no 200 from ${url} within ${timeoutMs} ms (last status ${status}):\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------
// Measuring a process from /proc (Linux).

export interface ProcStats {
  /** VmHWM: the peak resident set size over the process's life. */
  peakRssMiB: number;
  /** user + system CPU time so far. */
  cpuSeconds: number;
}

const CLOCK_TICKS = 100; // USER_HZ; `getconf CLK_TCK` is 100 on every Linux we run on

export function procStats(pid: number): ProcStats {
  const exe = realpathSync(`/proc/${pid}/exe`);
  if (exe !== realpathSync(process.execPath)) throw new Error(`pid ${pid} runs ${exe}, not node: would measure the wrong process`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  if (!hwm) throw new Error(`no VmHWM in /proc/${pid}/status`);
  // Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based, proc(5)).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakRssMiB: Number(hwm[1]) / 1024, cpuSeconds: ticks / CLOCK_TICKS };
}

/** CPU seconds (user + system) this process has used so far. */
/**
 * CPU time the hypervisor gave to other guests while this VM wanted to run ("steal",
 * all cores together; /proc/stat), or 0 where the kernel does not account it. High
 * steal during a measurement means neighbours competed for the cores.
 */
export function stealSeconds(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    return Number(cpu[8] ?? 0) / 100;
  } catch {
    return 0;
  }
}

export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
