import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import table from './media-programs.json' with { type: 'json' };

/** One external program of the decoder table and the Debian package that provides it. */
export interface MediaProgram {
  readonly program: string;
  /** Other names that serve as well (ImageMagick 7's `magick` for 6's `convert-im6.q16`). */
  readonly or?: readonly string[];
  readonly pkg: string;
  /** What is lost without it. */
  readonly gives: string;
  /** Not installed by `npm start` or `npm test` (LibreOffice, ≈ 600 MB): the Docker image decides. */
  readonly optional?: boolean;
}

/**
 * The external programs the decoder table uses, the Debian package of each, and what is
 * lost without it. The table is data (media-programs.json) because scripts/ensure-deps.sh
 * reads it too, before `npm ci`: a program is named with its package once.
 */
export const MEDIA_PROGRAMS: readonly MediaProgram[] = table;

const found = new Map<string, string | null>();

/** Absolute path of a program on PATH, or null (looked up once per process). */
export function whichProgram(name: string): string | null {
  if (found.has(name)) return found.get(name)!;
  let hit: string | null = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      hit = p;
      break;
    } catch {
      // not here
    }
  }
  found.set(name, hit);
  return hit;
}

/** Forget what was looked up (after installing programs). */
export function forgetPrograms(): void {
  found.clear();
}

/**
 * Programs that are missing; with `install` (and root, and apt-get) the required ones are
 * installed first. Returns one line per program still missing, for a visible warning:
 * their types are stored as plain files, never a crash.
 */
export function ensureMediaPrograms(opts: { install: boolean; log: (line: string) => void }): string[] {
  const lacking = () => MEDIA_PROGRAMS.filter((p) => ![p.program, ...(p.or ?? [])].some(whichProgram));
  const missing = lacking().filter((p) => !p.optional);
  if (opts.install && missing.length > 0 && process.getuid?.() === 0 && whichProgram('apt-get')) {
    const pkgs = [...new Set(missing.map((p) => p.pkg))];
    opts.log(`installing ${pkgs.join(' ')} with apt-get (media previews) …`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
    } catch {
      opts.log(`apt-get could not install ${pkgs.join(' ')}`);
    }
    forgetPrograms();
  }
  const lines = lacking().map(
    (p) => `${p.program} is not installed (apt-get install ${p.pkg}): no ${p.gives}; those files are stored as plain files.`,
  );
  for (const l of lines) opts.log(`warning: ${l}`);
  return lines;
}

// `tsx worker/media-programs.ts --install`: npm test's pretest and .ci/run.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureMediaPrograms({ install: process.argv.includes('--install'), log: (l) => process.stdout.write(`${l}\n`) });
}
