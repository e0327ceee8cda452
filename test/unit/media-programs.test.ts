// The worker's media programs are named with their Debian package once, in
// worker/media-programs.json: the worker reads it (what is missing, what to install),
// scripts/ensure-deps.sh reads it (what `npm test` and .ci/run install), and the
// Dockerfile's apt-get line must install the same packages.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MEDIA_PROGRAMS } from '../../worker/media-programs.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const required = [...new Set(MEDIA_PROGRAMS.filter((p) => !p.optional).map((p) => p.pkg))];
const optional = [...new Set(MEDIA_PROGRAMS.filter((p) => p.optional).map((p) => p.pkg))];

describe('worker/media-programs.json, the one table of media programs', () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'media-programs-'));
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  it('is what scripts/ensure-deps.sh checks and installs: with none of the programs on PATH it names every required package', () => {
    expect(required).toEqual(expect.arrayContaining(['ffmpeg', 'poppler-utils', 'imagemagick', 'libheif-examples']));
    // A PATH with the script's own needs only, so every media program is missing.
    for (const tool of ['bash', 'node', 'dirname']) {
      const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      fs.symlinkSync(found, path.join(bin, tool));
    }
    const only = required.flatMap((pkg) => ['--only', pkg]);
    const r = spawnSync(path.join(bin, 'bash'), [path.join(root, 'scripts/ensure-deps.sh'), '--check', ...only], {
      encoding: 'utf8',
      env: { PATH: bin },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`sudo apt-get install -y ${required.join(' ')}\n`);
    for (const pkg of optional) expect(r.stderr).not.toContain(pkg);
  });

  it('names no media program or its package again in scripts/ensure-deps.sh', () => {
    const rows = /^DEPS=\(\n([\s\S]*?)^\)/m.exec(read('scripts/ensure-deps.sh'))![1]!;
    const again = [...MEDIA_PROGRAMS.flatMap((p) => [p.program, ...(p.or ?? [])]), ...required].filter((name) =>
      new RegExp(`(^|[\\s'])${name.replace(/[.]/g, '\\.')}([\\s']|$)`, 'm').test(rows),
    );
    expect(again).toEqual([]);
  });

  it('the Docker image installs the same packages (LibreOffice only when asked for)', () => {
    const install = /apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(read('Dockerfile'))![1]!.split(/\s+/);
    expect(install).toEqual(expect.arrayContaining(required));
    for (const pkg of optional) expect(read('Dockerfile')).toContain(`OFFICE=${pkg}`);
  });
});
