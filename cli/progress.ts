import cliProgress from 'cli-progress';
import { bytes, duration } from './format.js';

export interface ProgressCounts {
  found: number;
  foundBytes: number;
  done: number;
  doneBytes: number;
  uploaded: number;
  skipped: number;
  failed: number;
  /** True once the walk has seen every file: the totals stop growing. */
  walkDone: boolean;
}

/**
 * The live line on a terminal: files and bytes done, rate, ETA, failures. The totals
 * grow while the walk is still finding files, so the ETA is computed here from the
 * bytes left (cli-progress' own assumes a fixed total). Lines logged while it runs are
 * printed above it.
 */
export class ProgressDisplay {
  private readonly multi: cliProgress.MultiBar;
  private readonly bar: cliProgress.SingleBar;
  private readonly started = Date.now();

  constructor(stream: NodeJS.WritableStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        format:
          '{bar} {value}/{total}{more} files | {doneBytes}/{totalBytes} | {rate} | ETA {etaText} | {uploaded} uploaded, {skipped} skipped, {failed} failed',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
        // Redraw on a timer even when nothing finished (a big file uploading), so the rate and ETA move.
        forceRedraw: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar = this.multi.create(1, 0, this.payload(emptyCounts()));
  }

  update(c: ProgressCounts): void {
    this.bar.setTotal(Math.max(1, c.found));
    this.bar.update(c.done, this.payload(c));
  }

  log(line: string): void {
    this.multi.log(`${line}\n`);
  }

  stop(): void {
    this.multi.stop();
  }

  private payload(c: ProgressCounts) {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? c.doneBytes / elapsed : 0;
    const eta = rate > 0 && c.walkDone ? (c.foundBytes - c.doneBytes) / rate : NaN;
    return {
      more: c.walkDone ? '' : '+',
      doneBytes: bytes(c.doneBytes),
      totalBytes: bytes(c.foundBytes),
      rate: `${bytes(rate)}/s`,
      etaText: duration(eta),
      uploaded: c.uploaded,
      skipped: c.skipped,
      failed: c.failed,
    };
  }
}

function emptyCounts(): ProgressCounts {
  return { found: 0, foundBytes: 0, done: 0, doneBytes: 0, uploaded: 0, skipped: 0, failed: 0, walkDone: false };
}
