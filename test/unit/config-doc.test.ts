// The configuration table in docs/configuration.md is checked against the one config
// definition, shared/config.ts, so a default is written once (in code) and the doc can
// only repeat it: every variable the parser reads has a row, and where the code's
// default is a plain value, the row shows that value.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseBytes } from '../../shared/config.js';

const root = path.resolve(import.meta.dirname, '../..');
const CONFIG = 'shared/config.ts';
const DOC = 'docs/configuration.md';

interface Variable {
  name: string;
  /** The default as code computes it, when it is a constant; undefined when derived (cores, another variable) or absent. */
  value: string | number | undefined;
  /** The default's source text, for the message. */
  source: string | undefined;
  line: number;
}

/**
 * Every `p.<kind>('NAME', …)` call of the config parser, with its default: the second
 * argument of `int`/`bytes`, the third of `oneOf`, or the right side of `p.str('NAME') ?? …`.
 * Constants declared at the top of the file (`MiB`) are folded in.
 */
function readConfigVariables(): Variable[] {
  const text = fs.readFileSync(path.join(root, CONFIG), 'utf8');
  const file = ts.createSourceFile(CONFIG, text, ts.ScriptTarget.ES2022, true);
  const consts = new Map<string, ts.Expression>();
  for (const st of file.statements) {
    if (ts.isVariableStatement(st))
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, d.initializer);
  }
  const evaluate = (e: ts.Expression): string | number | undefined => {
    if (ts.isNumericLiteral(e)) return Number(e.text.replace(/_/g, ''));
    if (ts.isStringLiteralLike(e)) return e.text;
    if (ts.isParenthesizedExpression(e)) return evaluate(e.expression);
    if (ts.isIdentifier(e) && consts.has(e.text)) return evaluate(consts.get(e.text)!);
    if (ts.isBinaryExpression(e)) {
      const [a, b] = [evaluate(e.left), evaluate(e.right)];
      if (typeof a !== 'number' || typeof b !== 'number') return undefined;
      if (e.operatorToken.kind === ts.SyntaxKind.AsteriskToken) return a * b;
      if (e.operatorToken.kind === ts.SyntaxKind.AsteriskAsteriskToken) return a ** b;
      if (e.operatorToken.kind === ts.SyntaxKind.PlusToken) return a + b;
    }
    return undefined;
  };
  const found: Variable[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      ts.isIdentifier(node.expression.expression) &&
      node.expression.expression.text === 'p'
    ) {
      const [first] = node.arguments;
      if (first && ts.isStringLiteral(first) && /^[A-Z][A-Z0-9_]*$/.test(first.text)) {
        const kind = node.expression.name.text;
        let def: ts.Expression | undefined =
          kind === 'oneOf' ? node.arguments[2] : kind === 'int' || kind === 'bytes' ? node.arguments[1] : undefined;
        const parent = node.parent;
        if (
          !def &&
          ts.isBinaryExpression(parent) &&
          parent.left === node &&
          parent.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken
        )
          def = parent.right;
        found.push({
          name: first.text,
          value: def ? evaluate(def) : undefined,
          source: def?.getText(file),
          line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1,
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  // A variable read twice (validated, then parsed) is one variable; the first default stands.
  return [...new Map(found.reverse().map((v) => [v.name, v])).values()].reverse();
}

/** The table's rows: the variables named in the first cell (one or more), and the default cell. */
function readDocRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(root, DOC), 'utf8').split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.length < 4 || !line.startsWith('|')) continue;
    for (const m of cells[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) rows.set(m[1]!, cells[2]!);
  }
  return rows;
}

/** The forms a default may take in the doc: `3000`, `30000` written `30_000`, sizes as `5M` / `1G`; an empty default is "unset". */
function spellings(value: string | number): string[] {
  if (typeof value === 'string') return [value];
  const forms = [String(value)];
  for (const [unit, size] of [
    ['K', 1024],
    ['M', 1024 ** 2],
    ['G', 1024 ** 3],
  ] as const)
    if (value >= size && value % size === 0) forms.push(`${value / size}${unit}`);
  return forms;
}

describe(`${DOC} against ${CONFIG}`, () => {
  const variables = readConfigVariables();
  const rows = readDocRows();

  it('finds the variables and their defaults in the config definition', () => {
    // Guards the extraction: a broken reader must not make the checks below vacuous.
    expect(variables.length).toBeGreaterThan(40);
    expect(variables.find((v) => v.name === 'PORT')?.value).toBe(3000);
    expect(variables.find((v) => v.name === 'MAX_UPLOAD_BYTES')?.value).toBe(1024 ** 3);
    expect(variables.find((v) => v.name === 'LOG_LEVEL')?.value).toBe('info');
    expect(variables.find((v) => v.name === 'WORKER_CONCURRENCY')?.value).toBeUndefined();
    expect(parseBytes('5M')).toBe(5 * 1024 ** 2);
  });

  it('has a row for every variable shared/config.ts reads', () => {
    const missing = variables
      .filter((v) => !rows.has(v.name))
      .map(
        (v) =>
          `${v.name} (${CONFIG}:${v.line}) — add a row: | \`${v.name}\` | ${v.value === undefined ? (v.source ? `what ${v.source} comes to` : 'unset') : `\`${v.value}\``} | what it does |`,
      );
    expect(missing, `variables missing from ${DOC}`).toEqual([]);
    // Names read some other way than through the parser (the set .env.example is checked against).
    const quoted = new Set([...fs.readFileSync(path.join(root, CONFIG), 'utf8').matchAll(/'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!));
    expect(
      [...quoted].filter((n) => !rows.has(n)).map((n) => `${n} — add a row: | \`${n}\` | default | what it does |`),
      `variables missing from ${DOC}`,
    ).toEqual([]);
  });

  it('names no variable that shared/config.ts does not read', () => {
    const known = new Set(variables.map((v) => v.name));
    expect(
      [...rows.keys()].filter((n) => !known.has(n)),
      `rows in ${DOC} for variables nothing reads`,
    ).toEqual([]);
  });

  it('shows the same default as the code wherever the code has a plain value', () => {
    const wrong = variables
      .filter((v) => v.value !== undefined && rows.has(v.name))
      .filter((v) => {
        const cell = rows.get(v.name)!;
        if (v.value === '') return !/^(unset|none|—)\b/.test(cell);
        const shown = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/_/g, ''));
        return !spellings(v.value!).some((s) => shown.includes(s));
      })
      .map(
        (v) =>
          `${v.name}: the code's default is ${JSON.stringify(v.value)} (${v.source}, ${CONFIG}:${v.line}), the doc shows ${rows.get(v.name)}`,
      );
    expect(wrong).toEqual([]);
  });
});
