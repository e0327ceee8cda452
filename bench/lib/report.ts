import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { passes, type Check, type Figure, type Scenario, type ScenarioResult } from '../scenario.js';

export interface RunInfo {
  command: string;
  date: Date;
  /** 1-minute load average when the scenario started and when it ended. */
  load: [number, number];
}

/** Facts about the machine that matter for reading the numbers. */
export function machineFacts(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const ram = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${os.availableParallelism()} cores (${cpu}), ${ram} GiB RAM, Node ${process.version}, ${os.type()} ${os.release()}`;
}

/** The command that reproduces this run: BENCH_* overrides, then the npm script. */
export function commandLine(names: string[]): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'npm run bench', ...(names.length ? ['--', ...names] : [])].join(' ');
}

function num(value: number, digits = 1): string {
  return value.toFixed(digits);
}

function figure(f: Figure | undefined): string {
  return f ? num(f.value, f.digits) : '–';
}

function target(c: Check): string {
  return c.target ? `${c.target.op === '>=' ? '≥' : '≤'} ${num(c.target.value, c.digits ?? 2)}` : '–';
}

function checkValue(c: Check): string {
  const d = c.digits ?? 2;
  const spread = c.spread && c.spread[0] !== c.spread[1] ? ` (${num(c.spread[0], d)}–${num(c.spread[1], d)})` : '';
  return `${num(c.value, d)}${c.unit ? ` ${c.unit}` : ''}${spread}`;
}

function verdict(c: Check): string {
  const ok = passes(c);
  return ok === undefined ? 'info' : ok ? 'PASS' : 'FAIL';
}

/** Rows of cells: the variants table, then the checks table. */
function tables(r: ScenarioResult): { variants: string[][]; checks: string[][] } {
  const columns: { key: string; unit: string }[] = [];
  // Column order: that of the variant with the most figures, then any others.
  const widest = [...r.variants].sort((a, b) => Object.keys(b.figures).length - Object.keys(a.figures).length);
  for (const v of widest) {
    for (const [key, f] of Object.entries(v.figures)) {
      if (!columns.some((c) => c.key === key)) columns.push({ key, unit: f.unit });
    }
  }
  const variants = [
    ['variant', 'role', ...columns.map((c) => (c.unit ? `${c.key} (${c.unit})` : c.key))],
    ...r.variants.map((v) => [v.name, v.role, ...columns.map((c) => figure(v.figures[c.key]))]),
  ];
  const checks = [['check', 'value', 'target', 'result'], ...r.checks.map((c) => [c.name, checkValue(c), target(c), verdict(c)])];
  return { variants, checks };
}

function textTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

function markdownTable(rows: string[][]): string {
  const [header, ...body] = rows;
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header!), line(header!.map((_, i) => (i === 0 ? '---' : '---:'))), ...body.map(line)].join('\n');
}

export function printResult(s: Scenario, r: ScenarioResult): void {
  const t = tables(r);
  const params = Object.entries(r.parameters)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(`\n== ${s.name} (${params})\n`);
  console.log(textTable(t.variants));
  console.log('');
  console.log(textTable(t.checks));
  console.log('');
}

export function failedChecks(r: ScenarioResult): Check[] {
  return r.checks.filter((c) => passes(c) === false);
}

export function markdownSection(s: Scenario, r: ScenarioResult, info: RunInfo): string {
  const t = tables(r);
  return [
    `## ${s.name}`,
    '',
    s.description,
    '',
    `- Command: \`${info.command}\``,
    `- Date: ${info.date.toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- Machine: ${machineFacts()}`,
    `- Load average (1 min) at start / end: ${info.load[0].toFixed(2)} / ${info.load[1].toFixed(2)}` +
      (Math.max(...info.load) > 0.5 ? ' — other work was running; figures are less reliable' : ''),
    `- Parameters: ${Object.entries(r.parameters)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    '',
    markdownTable(t.variants),
    '',
    markdownTable(t.checks),
    '',
    ...(r.notes.length ? ['Notes:', '', ...r.notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
}

const HEADER = `# Benchmarks

Produced by \`npm run bench\` (\`bench/run.ts\`); \`npm run bench -- <name>\` runs one
scenario. Every scenario runs its baseline(s) and the subject in the same run on the
same machine and judges the subject by ratios to them, so figures from different
machines stay comparable. Each run rewrites only its own section below.
`;

const begin = (name: string) => `<!-- bench:${name}:begin -->`;
const end = (name: string) => `<!-- bench:${name}:end -->`;

/** Replaces the scenario's section of docs/BENCHMARKS.md (or appends it), keeping the others. */
export async function writeSection(file: string, name: string, section: string): Promise<void> {
  // Several benches may finish at once (each rewrites the whole file): one at a time.
  const unlock = await lock(`${os.tmpdir()}/bench-md-${createHash('sha256').update(file).digest('hex').slice(0, 12)}.lock`);
  try {
    await replaceSection(file, name, section);
  } finally {
    await unlock();
  }
}

async function replaceSection(file: string, name: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = HEADER;
  }
  const block = `${begin(name)}\n${section.trimEnd()}\n${end(name)}`;
  const from = text.indexOf(begin(name));
  const to = text.indexOf(end(name));
  if (from >= 0 && to > from) {
    text = text.slice(0, from) + block + text.slice(to + end(name).length);
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  await fs.writeFile(file, text);
}

/** A lock dir (mkdir is atomic); one older than 30 s is left over from a crash and taken. */
async function lock(dir: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.mkdir(dir);
      return () => fs.rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age =
        Date.now() -
        (await fs.stat(dir).then(
          (st) => st.mtimeMs,
          () => Date.now(),
        ));
      if (age > 30_000 || attempt > 600) await fs.rm(dir, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
}
