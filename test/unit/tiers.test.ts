// Every test file runs in exactly one tier (vitest.config.ts), so `npm test` — all
// tiers — runs each once and none is silently left out.
import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { TIERS } from '../../vitest.config.js';

const root = path.resolve(import.meta.dirname, '../..');
const testFiles = fs
  .readdirSync(path.join(root, 'test'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/${f.split(path.sep).join('/')}`);

describe('test tiers', () => {
  it('put every test file in exactly one tier', () => {
    expect(testFiles.length).toBeGreaterThan(30);
    const tiersOf = (file: string) =>
      Object.entries(TIERS)
        .filter(([, globs]) => picomatch(globs as unknown as string[])(file))
        .map(([tier]) => tier);
    const wrong = testFiles.map((f) => ({ file: f, tiers: tiersOf(f) })).filter((t) => t.tiers.length !== 1);
    expect(wrong, 'add the file to one tier in vitest.config.ts').toEqual([]);
  });

  it('keep the unit tier free of servers: no unit test reaches for the harness services', () => {
    const unit = testFiles.filter((f) => picomatch(TIERS.unit as unknown as string[])(f));
    const offenders = unit.filter((f) =>
      /inject\(|harness\/(service|redis-server|s3-server|process)\.js/.test(fs.readFileSync(path.join(root, f), 'utf8')),
    );
    expect(offenders, 'these need Redis, S3 or processes: move them to integration or slow').toEqual([]);
  });
});
