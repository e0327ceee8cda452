import { bytes, duration } from './format.js';
import { ProgressDisplay, type ProgressCounts } from './progress.js';
import type { FileResult, UploadEvents } from './uploader.js';

/** Failures kept for the summary; past this only the count grows (a million failures must not fill memory). */
const MAX_LISTED_FAILURES = 50;

export interface ReportOptions {
  json: boolean;
  /** A live progress line (only on a terminal, never with --json). */
  progress: boolean;
  /** Also print a line for each uploaded or skipped file. */
  verbose: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Where the upload's outcome goes: one JSON line per file on stdout with `--json`,
 * otherwise failures as they happen on stderr, a progress line on a terminal, and a
 * summary at the end.
 */
export class UploadReport implements UploadEvents {
  readonly counts: ProgressCounts = { found: 0, foundBytes: 0, done: 0, doneBytes: 0, uploaded: 0, skipped: 0, failed: 0, walkDone: false };
  private readonly failures: FileResult[] = [];
  private readonly display: ProgressDisplay | undefined;
  private readonly started = Date.now();
  private uploadedBytes = 0;

  constructor(private readonly o: ReportOptions) {
    this.display = o.progress && !o.json ? new ProgressDisplay(o.stderr) : undefined;
  }

  found(size: number): void {
    this.counts.found++;
    this.counts.foundBytes += size;
    this.display?.update(this.counts);
  }

  result(r: FileResult): void {
    // A walk error is not a found file but still one outcome to count.
    if (r.size === undefined) {
      this.counts.found++;
    }
    this.counts.done++;
    this.counts.doneBytes += r.size ?? 0;
    this.counts[r.status]++;
    if (r.status === 'uploaded') this.uploadedBytes += r.size ?? 0;
    if (r.status === 'failed' && this.failures.length < MAX_LISTED_FAILURES) this.failures.push(r);
    if (this.o.json) {
      this.o.stdout.write(`${JSON.stringify({ event: 'file', ...r })}\n`);
    } else if (r.status === 'failed') {
      this.line(`failed   ${r.path}: ${r.reason}`);
    } else if (this.o.verbose) {
      this.line(`${r.status.padEnd(8)} ${r.path}${r.id ? ` → ${r.id}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
    }
    this.display?.update(this.counts);
  }

  notice(message: string): void {
    if (this.o.json) this.o.stderr.write(`${message}\n`);
    else this.line(message);
  }

  walkFinished(): void {
    this.counts.walkDone = true;
    this.display?.update(this.counts);
  }

  /** Stops the live line without a summary: the run never started (unknown library). */
  abandon(): void {
    this.display?.stop();
  }

  /** Stops the live line and prints the summary; `interrupted` says the run was cut short. */
  finish(outcome: { interrupted?: boolean; fatal?: string } = {}): void {
    this.display?.stop();
    const c = this.counts;
    const seconds = (Date.now() - this.started) / 1000;
    if (this.o.json) {
      const summary = {
        event: 'summary',
        uploaded: c.uploaded,
        skipped: c.skipped,
        failed: c.failed,
        bytesUploaded: this.uploadedBytes,
        seconds: Number(seconds.toFixed(3)),
        ...(outcome.interrupted ? { interrupted: true } : {}),
        ...(outcome.fatal ? { error: outcome.fatal } : {}),
      };
      this.o.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    const out = this.o.stdout;
    out.write(
      `\n${outcome.interrupted ? 'Interrupted. ' : ''}${c.uploaded} uploaded (${bytes(this.uploadedBytes)}), ${c.skipped} skipped as already there, ${c.failed} failed — in ${duration(seconds)}\n`,
    );
    if (c.failed) {
      out.write('Failed:\n');
      for (const f of this.failures) out.write(`  ${f.path}: ${f.reason}\n`);
      if (c.failed > this.failures.length) out.write(`  … and ${c.failed - this.failures.length} more (--json lists every file)\n`);
    }
    if (outcome.interrupted) out.write('Run the same command again to continue: files already uploaded are skipped.\n');
  }

  private line(s: string): void {
    if (this.display) this.display.log(s);
    else this.o.stderr.write(`${s}\n`);
  }
}
