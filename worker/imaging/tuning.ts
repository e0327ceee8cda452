import { readFileSync } from 'node:fs';
import os from 'node:os';
import sharp from 'sharp';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';

export interface ImagingTuning {
  /** libvips threads per image. */
  vipsThreads: number;
  allocator: 'jemalloc' | 'glibc (MALLOC_ARENA_MAX)' | 'glibc' | 'other';
}

let applied: ImagingTuning | undefined;

/**
 * Process-wide sharp/libvips settings, applied once when the first workers start.
 *
 * - Threads: a worker runs WORKER_CONCURRENCY jobs at once, each image with its own
 *   libvips threads; cores ÷ concurrency threads per image keeps the cores busy without
 *   oversubscribing them (VIPS_CONCURRENCY overrides).
 * - Allocator: on glibc without jemalloc, sharp drops to one thread per image because
 *   glibc's per-thread arenas fragment under libvips (sharp docs, "Linux memory
 *   allocator"). The Dockerfile preloads jemalloc; worker/main.ts restarts itself with
 *   jemalloc or MALLOC_ARENA_MAX=2 otherwise. With either, more threads are safe.
 * - Cache: libvips' operation cache helps a process that renders the same image again;
 *   a worker never does (every job is a different original), so it would only hold
 *   memory and open files of originals that may be deleted meanwhile.
 */
export function tuneImaging(config: Config, logger: Logger): ImagingTuning {
  if (applied) return applied;
  const allocator = detectAllocator(config);
  const cores = Math.max(1, os.availableParallelism());
  const auto = Math.max(1, Math.round(cores / Math.min(config.worker.concurrency, cores)));
  const safe = allocator !== 'glibc';
  const vipsThreads = config.worker.vipsConcurrency || (safe ? auto : 1);
  sharp.concurrency(vipsThreads);
  sharp.cache(false);
  applied = { vipsThreads, allocator };
  logger.info({ vipsThreads, allocator, workerConcurrency: config.worker.concurrency }, 'imaging tuned');
  if (!safe) logger.warn('glibc malloc without MALLOC_ARENA_MAX or jemalloc: libvips runs one thread per image to limit fragmentation');
  return applied;
}

export function detectAllocator(config: Config): ImagingTuning['allocator'] {
  if (process.platform !== 'linux') return 'other';
  try {
    if (/libjemalloc/.test(readFileSync('/proc/self/maps', 'utf8'))) return 'jemalloc';
  } catch {
    // no /proc: treat as glibc
  }
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  if (!glibc) return 'other';
  return config.worker.mallocArenaMax ? 'glibc (MALLOC_ARENA_MAX)' : 'glibc';
}
