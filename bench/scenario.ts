/** The contract between `bench/run.ts` and the files in `bench/scenarios/`. */

export interface Scenario {
  /** Command-line name and docs/BENCHMARKS.md section id: `npm run bench -- <name>`. */
  name: string;
  /** One or two sentences: what is measured against what. */
  description: string;
  /** Runs the baseline(s) and the subject in this one run and returns the figures. */
  run(): Promise<ScenarioResult>;
}

export interface ScenarioResult {
  /** The knobs this run used (sizes, concurrency), shown with the figures. */
  parameters: Record<string, string | number>;
  /** Raw figures, one row per variant (baselines first, subject last). */
  variants: VariantResult[];
  /** Ratios and limits; those with a target decide PASS/FAIL. */
  checks: Check[];
  /** Methodology choices and caveats worth keeping next to the numbers. */
  notes: string[];
}

export interface VariantResult {
  name: string;
  role: 'baseline' | 'subject';
  /** Column name → value; a column absent for a variant is shown as "–". */
  figures: Record<string, Figure>;
}

export interface Figure {
  value: number;
  unit: string;
  /** Decimal places when printed. @defaultValue 1 */
  digits?: number;
}

export interface Check {
  name: string;
  value: number;
  unit: string;
  digits?: number;
  /** Lowest and highest over repeated measurements, when `value` is their median. */
  spread?: [number, number];
  /** Absent: reported for information only. */
  target?: { op: '>=' | '<='; value: number };
}

export function passes(check: Check): boolean | undefined {
  if (!check.target) return undefined;
  return check.target.op === '>=' ? check.value >= check.target.value : check.value <= check.target.value;
}
