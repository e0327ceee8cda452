import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `re` in the output so far or to come. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs one of the project's entry points as its own process: a `.ts` source through
 * tsx, or compiled `.js` output as `npm run api` / `npm run worker` run it
 * (`node --enable-source-maps …`, no loader).
 */
export function runEntry(entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, entry.endsWith('.js') ? ['--enable-source-maps', entry] : ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} in output:\n${out.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() =>
          setTimeout(() => {
            if (waiters.has(check)) {
              waiters.delete(check);
              clearTimeout(timer);
              reject(new Error(`process exited before ${re}; output:\n${out.slice(-3000)}`));
            }
          }, 50),
        );
        check();
      });
    },
  };
}
