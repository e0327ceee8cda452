import { spawn } from 'node:child_process';
import { UnreadableFileError } from '../shared/errors.js';
import { MEDIA_PROGRAMS, whichProgram } from './media-programs.js';

export { whichProgram };

/**
 * Limits of one external decoder run (ffmpeg, ffprobe, pdftoppm, ImageMagick…): hostile
 * files are built to make decoders loop or allocate without end.
 */
export interface ProgramLimits {
  /** Wall-clock limit; the process group is killed when it passes. */
  timeoutMs: number;
  /** Address-space limit (prlimit --as): allocations beyond it fail inside the program. */
  memoryBytes: number;
  /** Bytes of stdout kept; more fails the run (a decoder writing without end). */
  maxStdoutBytes: number;
}

/**
 * Defaults that a 2-core box with a few GiB handles a 1080p video frame, a poster-size
 * PDF page and a 100-megapixel TIFF within; WORKER_CONCURRENCY runs may run at once.
 */
export const DEFAULT_LIMITS: ProgramLimits = { timeoutMs: 60_000, memoryBytes: 1536 * 1024 * 1024, maxStdoutBytes: 64 * 1024 * 1024 };

/** The program is not installed: its types are stored as plain files, with a warning. */
export class ProgramMissingError extends Error {
  constructor(
    readonly program: string,
    readonly hint: string,
  ) {
    super(`${program} is not installed (${hint})`);
  }
}

export function missingProgram(name: string): ProgramMissingError {
  const pkg = MEDIA_PROGRAMS.find((p) => p.program === name)?.pkg ?? name;
  return new ProgramMissingError(name, `apt-get install ${pkg}`);
}

export interface ProgramResult {
  stdout: Buffer;
  /** The last few KiB of stderr, for the reason of a failure. */
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs `program args` with a memory limit (prlimit --as, from util-linux) and a kill
 * timer on its whole process group, stdin closed. Resolves with the exit status: the
 * caller decides what a non-zero exit means for its format. Rejects with
 * ProgramMissingError when the program is not installed, and UnreadableFileError when
 * a limit was hit (the file needs more than a file of its kind may take).
 */
export function runProgram(program: string, args: readonly string[], limits: Partial<ProgramLimits> = {}): Promise<ProgramResult> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const exe = whichProgram(program);
  if (!exe) return Promise.reject(missingProgram(program));
  const prlimit = whichProgram('prlimit');
  const [cmd, argv] = prlimit ? [prlimit, [`--as=${lim.memoryBytes}`, '--core=0', '--', exe, ...args]] : [exe, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      // glibc gives each thread a 64 MiB arena of address space; two keep a threaded
      // decoder within the --as limit without slowing it.
      env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let overflow = false;
    let timedOut = false;
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, lim.timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > lim.maxStdoutBytes) {
        overflow = true;
        kill();
        return;
      }
      out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-8192);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? missingProgram(program) : e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new UnreadableFileError(
            `${program} did not finish within ${Math.round(lim.timeoutMs / 1000)} s on this file; it is stored but not rendered.`,
          ),
        );
      } else if (overflow) {
        reject(
          new UnreadableFileError(
            `${program} wrote more than ${lim.maxStdoutBytes >> 20} MiB for this file; it is stored but not rendered.`,
          ),
        );
      } else if (isOutOfMemory(err, signal)) {
        reject(
          new UnreadableFileError(
            `${program} needed more than ${lim.memoryBytes >> 20} MiB of memory for this file; it is stored but not rendered.`,
          ),
        );
      } else {
        resolve({ stdout: Buffer.concat(out, Math.min(outBytes, lim.maxStdoutBytes)), stderr: err, code, signal });
      }
    });
  });
}

function isOutOfMemory(stderr: string, signal: NodeJS.Signals | null): boolean {
  return (
    /cannot allocate memory|out of memory|std::bad_alloc|memory allocation failed|Cannot allocate/i.test(stderr) ||
    (signal === 'SIGABRT' && /alloc/i.test(stderr))
  );
}

/** The most telling line of a decoder's stderr: the last one that names an error, else the last. */
export function reasonFrom(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const bad = lines.filter((l) =>
    /error|invalid|corrupt|truncat|damaged|fail|unsupported|not a|no such|cannot|can't|unable|missing|premature/i.test(l),
  );
  return (bad.at(-1) ?? lines.at(-1) ?? 'no output').slice(0, 300);
}
