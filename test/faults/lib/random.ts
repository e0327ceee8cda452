/**
 * A seeded PRNG (mulberry32) so a failing fault run can be replayed exactly:
 * `FAULT_SEED=<seed printed by the failing run> npm run test:faults`.
 */
export function seededRandom(label: string): { seed: number; next(): number; int(min: number, max: number): number } {
  const fromEnv = Number(process.env.FAULT_SEED);
  const seed = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
  console.log(`[${label}] FAULT_SEED=${seed}`);
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}
