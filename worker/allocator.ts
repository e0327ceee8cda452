// Imported first by worker/main.ts, for its side effect: on glibc without jemalloc,
// restart this process once with jemalloc preloaded (or MALLOC_ARENA_MAX=2 when no
// jemalloc is installed). Both are read by the C library at start-up only, so a running
// process cannot switch; hence the restart. Why it matters: sharp's docs, "Linux memory
// allocator" — glibc's per-thread arenas fragment under libvips, a long-running worker's
// RSS keeps growing, and sharp falls back to one libvips thread per image. The Docker
// image preloads jemalloc itself, so there this does nothing.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { loadConfig } from '../shared/config.js';
import { detectAllocator } from './imaging/tuning.js';

/** Marks the restarted process, so it never restarts again (e.g. if the preload failed). */
const RESTARTED = '--mi-allocator-restarted';

const JEMALLOC = [
  '/usr/local/lib/libjemalloc.so.2',
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
];

function needsRestart(): boolean {
  if (process.platform !== 'linux' || process.argv.includes(RESTARTED)) return false;
  try {
    return detectAllocator(loadConfig()) === 'glibc';
  } catch {
    return false; // a bad configuration is reported by main.ts, in this process
  }
}

if (process.argv.includes(RESTARTED)) {
  // The relay was killed (SIGKILL cannot be relayed): go with it, as the worker it stood for.
  const relay = process.ppid;
  setInterval(() => {
    if (process.ppid !== relay) process.kill(process.pid, 'SIGKILL');
  }, 1_000).unref();
} else if (needsRestart()) {
  const jemalloc = JEMALLOC.find((p) => existsSync(p));
  // The child's environment is ours plus the allocator setting: it must see everything
  // this process was given (config, PATH), which is why process.env is read here.
  const env = { ...process.env };
  if (jemalloc) env.LD_PRELOAD = [env.LD_PRELOAD, jemalloc].filter(Boolean).join(':');
  else env.MALLOC_ARENA_MAX = '2';
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1), RESTARTED], { stdio: 'inherit', env });
  // This process only relays: signals in, the exit status out.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  // Never resolves: main.ts's own body must not run in the relaying process.
  await new Promise(() => undefined);
}
