import { ExifTool } from 'exiftool-vendored';

/**
 * The one long-lived ExifTool of this worker process. Starting exiftool costs a Perl
 * start-up (~100 ms), so it is created on first use and shared by every step and job:
 * metadata extraction, the HEIC/RAW preview fallback of renditions, anything else.
 *
 * Use: `exiftool().read(file)`; pass `config.worker.exiftool`'s settings on the calls that can
 * come first (the first call creates the instance, later options are ignored). Call
 * `endExifTool()` on shutdown, or its child processes keep the event loop alive.
 */
let instance: ExifTool | undefined;

export interface ExifToolSettings {
  /** exiftool processes; exiftool-vendored queues tasks over them. */
  maxProcs?: number;
  /** A task that takes longer is killed and fails (a hang must not block a job forever). */
  taskTimeoutMs?: number;
}

export function exiftool(settings: ExifToolSettings = {}): ExifTool {
  instance ??= new ExifTool({
    ...(settings.maxProcs ? { maxProcs: settings.maxProcs } : {}),
    taskTimeoutMillis: settings.taskTimeoutMs ?? 30_000,
  });
  return instance;
}

export async function endExifTool(): Promise<void> {
  const et = instance;
  instance = undefined;
  await et?.end();
}
