// What every scenario reads the same way: its BENCH_* parameters, and the statistics
// its figures are made of.
import type { Check } from '../scenario.js';

/** An integer parameter from the environment; a bad value stops the bench with a line saying what was expected. */
export function envInt(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${name} must be an integer ≥ ${min} (got "${raw}")`);
  return Number(raw);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * `b`'s wall time over `a`'s, taken within each round (drift of the machine hits a whole
 * round) and judged by its median, with the spread over the rounds.
 */
export function roundRatio(
  name: string,
  a: readonly { wallSeconds: number }[],
  b: readonly { wallSeconds: number }[],
  target?: Check['target'],
): Check {
  const perRound = a.map((m, i) => b[i]!.wallSeconds / m.wallSeconds);
  return { name, value: median(perRound), spread: [Math.min(...perRound), Math.max(...perRound)], unit: '', ...(target ? { target } : {}) };
}
