// The docs stay true to the tree: every file docs/architecture.md names exists, every
// relative link in README.md and docs/ resolves (anchors too), the README stays a short
// front page, and nothing in the repository points at a design document it does not hold.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const exists = (file: string) => fs.existsSync(path.join(root, file));

const docs = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** A path in backquotes: `dir/file.ext` or a root file such as `start.ts`; placeholders (`<job>`) are not paths. */
function namedFiles(markdown: string): string[] {
  const names = [...markdown.matchAll(/`([^`\s<>*]+)`/g)].map((m) => m[1]!);
  return [...new Set(names.filter((n) => /^[\w.-]+(\/[\w.-]+)*\.(ts|js|json|md|yml|sh|php)$/.test(n) && !n.startsWith('.')))];
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set(
    [...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('docs/architecture.md', () => {
  const names = namedFiles(read('docs/architecture.md'));

  it('names the files of the walk, and every one exists', () => {
    // Guards the extraction: a broken pattern must not make the check vacuous.
    expect(names).toEqual(
      expect.arrayContaining(['api/routes/files.ts', 'shared/services/upload-service.ts', 'worker/jobs/ingest.ts', 'start.ts']),
    );
    expect(names.length).toBeGreaterThan(40);
    expect(
      names.filter((n) => !exists(n)),
      'named in docs/architecture.md but not in the repository: fix the name or the doc',
    ).toEqual([]);
  });

  it('lists every ingest step in worker/steps/', () => {
    const steps = fs.readdirSync(path.join(root, 'worker/steps')).map((f) => `worker/steps/${f}`);
    expect(
      steps.filter((s) => !names.includes(s)),
      'steps missing from the walk',
    ).toEqual([]);
  });
});

describe('links in README.md and docs/', () => {
  it.each(docs)('%s: every relative link points at a file and heading that exist', (doc) => {
    const text = read(doc).replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file ? path.normalize(path.join(path.dirname(doc), file)) : doc;
      if (resolved.startsWith('..')) broken.push(`${target} (outside the repository)`);
      else if (!exists(resolved)) broken.push(`${target} (no such file)`);
      else if (anchor && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor)) broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });
});

describe('README.md', () => {
  it('is a front page of at most 12 KB; the reference lives in docs/', () => {
    expect(Buffer.byteLength(read('README.md'))).toBeLessThanOrEqual(12 * 1024);
    for (const d of ['architecture', 'api', 'configuration', 'compatibility', 'deployment', 'cli', 'operations']) {
      expect(read('README.md')).toContain(`(docs/${d}.md)`);
    }
  });
});

/** Folders and root files of the project's own code, comments and docs. */
const SOURCES = ['api', 'shared', 'worker', 'cli', 'bench', 'test', 'docs', 'scripts', '.ci'];
const ROOT_FILES = [
  'README.md',
  'eslint.config.js',
  'start.ts',
  'vitest.config.ts',
  'Dockerfile',
  'docker-compose.yml',
  '.env.example',
  'package.json',
];

function walk(dir: string): string[] {
  if (!exists(dir)) return [];
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
}

describe('references', () => {
  it('no comment or doc points at a design document outside the repository', () => {
    const files = [...SOURCES.flatMap(walk), ...ROOT_FILES].filter((f) => f !== 'test/unit/docs.test.ts');
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.filter((f) => /\b(DESIGN|STYLE)\.md\b/.test(read(f)));
    expect(offenders, 'say it in place, or point at docs/architecture.md').toEqual([]);
  });
});
