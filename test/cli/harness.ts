import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const BIN = path.resolve(import.meta.dirname, '../../cli/bin.js');

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Parsed `--json` lines so far. */
  lines(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node cli/bin.js …` — the installed bin, as a user would — with only the env given. */
export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: path.dirname(BIN),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
  };
}

export async function runCli(args: string[], env: Record<string, string>) {
  const run = startCli(args, env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr(), lines: run.lines() };
}

/**
 * The same command line in this process (cli/cli.ts with captured streams): for the
 * checks that need no separate process, without a second or so of start-up each.
 */
export async function runInProcess(args: string[], env: Record<string, string>) {
  const { runCli: run } = await import('../../cli/cli.js');
  const { PassThrough } = await import('node:stream');
  let out = '';
  let err = '';
  const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
  const stderr = new PassThrough().on('data', (d: Buffer) => (err += d.toString()));
  const code = await run(args, { env, stdout, stderr, tty: false, signal: new AbortController().signal });
  return {
    code,
    stdout: out,
    stderr: err,
    lines: out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
