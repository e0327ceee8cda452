// Deployment files: docker-compose.yml is valid and wired as intended, the Dockerfile
// keeps its production choices, and .env.example lists exactly the variables that
// shared/config.ts reads (plus compose's own), so none of them can drift silently.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/** tsconfig.build.json (`npm run build`): what is compiled into dist/ (its whole-line comments stripped). */
const buildConfig = JSON.parse(read('tsconfig.build.json').replace(/^\s*\/\/.*$/gm, '')) as {
  include: string[];
  compilerOptions: Record<string, unknown>;
};
/** The production commands: what `npm run api` / `npm run worker` run after their build, as argv. */
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
const API_CMD = ['node', '--enable-source-maps', '--max-semi-space-size=8', 'dist/api/main.js'];
const WORKER_CMD = ['node', '--enable-source-maps', 'dist/worker/main.js'];

describe('compiled entry points', () => {
  it('npm run api / worker run dist/ with source maps and never build it (replicas started together would race on dist/)', () => {
    // The console's bundle is part of the build: the API serves it from dist/console.
    expect(scripts.build).toBe('tsc -p tsconfig.build.json && npm run build:console --silent');
    expect(scripts.preapi).toBe('node scripts/check-build.mjs dist/api/main.js');
    expect(scripts.preworker).toBe('node scripts/check-build.mjs dist/worker/main.js');
    expect(scripts.api).toBe(API_CMD.join(' '));
    expect(scripts.worker).toBe(WORKER_CMD.join(' '));
    // `npm start` (one process) may build the console's bundle, whose files are written atomically.
    expect(
      Object.entries(scripts).filter(
        ([name, cmd]) => /^(pre|post)?(api|worker|start)$/.test(name) && /npm run build(?!:console)|\btsc\b/.test(cmd),
      ),
    ).toEqual([]);
  });

  it('a missing or stale build stops `npm run api` with one line saying to run npm run build', () => {
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'check-build-'));
    try {
      const check = () =>
        spawnSync(process.execPath, [path.join(root, 'scripts/check-build.mjs'), 'dist/api/main.js', tree], { encoding: 'utf8' });
      fs.mkdirSync(path.join(tree, 'api'));
      fs.writeFileSync(path.join(tree, 'api/main.ts'), '');
      expect(check()).toMatchObject({
        status: 1,
        stderr: 'dist/api/main.js is not built: run `npm run build` once, then start as many API and worker processes as you like.\n',
      });
      fs.mkdirSync(path.join(tree, 'dist/api'), { recursive: true });
      fs.writeFileSync(path.join(tree, 'dist/api/main.js'), '');
      expect(check()).toMatchObject({ status: 0, stderr: '' });
      const later = new Date(Date.now() + 60_000);
      fs.utimesSync(path.join(tree, 'api/main.ts'), later, later);
      expect(check()).toMatchObject({
        status: 1,
        stderr: expect.stringMatching(/^dist\/api\/main\.js is older than api\/main\.ts: run `npm run build`/),
      });
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  it('tsconfig.build.json compiles the production sources into dist/ (rootDir ., so api/main.ts → dist/api/main.js), with source maps', () => {
    expect(buildConfig.include).toEqual(expect.arrayContaining(['api', 'worker', 'shared']));
    expect(buildConfig.include.filter((p) => /^(test|bench)\b/.test(p))).toEqual([]);
    expect(buildConfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.', sourceMap: true });
    expect(fs.existsSync(path.join(root, 'api/main.ts')) && fs.existsSync(path.join(root, 'worker/main.ts'))).toBe(true);
  });
});

/** Variables in .env.example that only docker-compose.yml interpolates; the service never reads them. */
const COMPOSE_ONLY = ['API_REPLICAS', 'WORKER_REPLICAS'];
/** What docker-compose.yml must set for api and worker, whatever .env says. */
const COMPOSE_ENV = { STORAGE_DRIVER: 's3', S3_ENDPOINT: 'http://minio:9000', REDIS_URL: 'redis://redis:6379' };

interface Service {
  build?: unknown;
  image?: string;
  command?: unknown;
  environment?: Record<string, string | number | null> | string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  ports?: unknown[];
  volumes?: unknown[];
  stop_grace_period?: string;
  deploy?: { replicas?: unknown };
}
interface ComposeModel {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

// ---- .env.example -----------------------------------------------------------------

const envExample = read('.env.example');
const envLines = envExample.split('\n');
const envEntries = envLines.flatMap((line, i) => {
  const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  return m ? [{ name: m[1]!, value: m[2]!, line: i }] : [];
});
const exampleEnv: Record<string, string> = Object.fromEntries(envEntries.map((e) => [e.name, e.value]));

/** Names shared/config.ts reads: every quoted upper-case identifier, e.g. p.int('PORT', …). */
const configNames = new Set([...read('shared/config.ts').matchAll(/'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!));

describe('.env.example', () => {
  it('names exactly the variables shared/config.ts reads, plus the compose-only ones', () => {
    // Guards the extraction itself: a broken regex must not make the comparison vacuous.
    expect([...configNames]).toEqual(expect.arrayContaining(['PORT', 'REDIS_URL', 'API_KEYS', 'S3_SECRET_KEY', 'LOG_LEVEL']));
    const names = new Set(envEntries.map((e) => e.name));
    expect(
      [...configNames].filter((n) => !names.has(n)),
      'read by shared/config.ts, missing from .env.example',
    ).toEqual([]);
    expect(
      [...names].filter((n) => !configNames.has(n) && !COMPOSE_ONLY.includes(n)),
      'in .env.example, read by nothing',
    ).toEqual([]);
    expect(
      COMPOSE_ONLY.filter((n) => configNames.has(n)),
      'compose-only names must not be config variables',
    ).toEqual([]);
  });

  it('sets each variable once, each under a comment', () => {
    const names = envEntries.map((e) => e.name);
    expect(
      names.filter((n, i) => names.indexOf(n) !== i),
      'duplicates',
    ).toEqual([]);
    const uncommented = envEntries.filter((e) => !envLines[e.line - 1]?.startsWith('#')).map((e) => e.name);
    expect(uncommented, 'variables without a comment line right above').toEqual([]);
  });

  it('has valid defaults under compose, and a placeholder API key that fails closed', () => {
    const env = { ...exampleEnv, ...COMPOSE_ENV };
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^API_KEYS: each key must be at least 16 characters/)]);

    const config = loadConfig({ ...env, API_KEYS: 'k'.repeat(32) });
    expect(config.storage).toMatchObject({ driver: 's3', endPoint: 'minio', port: 9000, bucket: exampleEnv.S3_BUCKET });
    expect(config.redis.url).toBe(COMPOSE_ENV.REDIS_URL);
  });

  it('defines every variable docker-compose.yml interpolates, and the compose-only ones are used there', () => {
    const compose = read('docker-compose.yml');
    const interpolated = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect(interpolated.size).toBeGreaterThan(0);
    expect(
      [...interpolated].filter((n) => !(n in exampleEnv)),
      'interpolated but not in .env.example',
    ).toEqual([]);
    expect(
      COMPOSE_ONLY.filter((n) => !interpolated.has(n)),
      'compose-only but unused by docker-compose.yml',
    ).toEqual([]);
  });
});

// ---- docker-compose.yml ---------------------------------------------------------------

/** A compose CLI, run on a copy of docker-compose.yml with .env.example as its .env, in a scratch directory. */
interface ComposeCli {
  label: string;
  /** Exit status and output of `config`, and the model it printed (interpolated, anchors merged) when readable. */
  config(): { status: number | null; output: string; model: ComposeModel | undefined };
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-files-'));
fs.copyFileSync(path.join(root, 'docker-compose.yml'), path.join(scratch, 'docker-compose.yml'));
fs.copyFileSync(path.join(root, '.env.example'), path.join(scratch, '.env'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[], input?: string) {
  // Only PATH and HOME from outside: variables of the test's own environment must not
  // take part in compose's ${...} interpolation.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? scratch };
  const r = spawnSync(cmd, args, { cwd: scratch, env, input, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout ?? '', output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function findComposeCli(): ComposeCli | undefined {
  if (run('docker', ['compose', 'version']).status === 0) {
    return {
      label: 'docker compose config',
      config() {
        const r = run('docker', ['compose', 'config', '--format', 'json']);
        return { status: r.status, output: r.output, model: r.status === 0 ? (JSON.parse(r.stdout) as ComposeModel) : undefined };
      },
    };
  }
  if (run('docker-compose', ['version']).status === 0) {
    return {
      label: 'docker-compose config',
      config() {
        const r = run('docker-compose', ['config']);
        if (r.status !== 0) return { status: r.status, output: r.output, model: undefined };
        // docker-compose 1.x prints YAML only. It is a Python program built on PyYAML, so
        // the same parser turns its output into JSON where that Python is on PATH.
        const j = run('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], r.stdout);
        return { status: r.status, output: r.output, model: j.status === 0 ? (JSON.parse(j.stdout) as ComposeModel) : undefined };
      },
    };
  }
  return undefined;
}

/** The `yaml` package, if some dependency brought it in; it is not installed for this test. */
function yamlParser(): ((src: string) => unknown) | undefined {
  try {
    const yaml = createRequire(import.meta.url)('yaml') as { parse(src: string, options?: object): unknown };
    return (src) => yaml.parse(src, { merge: true });
  } catch {
    return undefined;
  }
}

const cli = findComposeCli();
const validated = cli?.config();
const parse = yamlParser();
const model: ComposeModel | undefined = validated?.model ?? (parse ? (parse(read('docker-compose.yml')) as ComposeModel) : undefined);
const noModel = 'skipped: no `yaml` package, and no docker compose / docker-compose (with python3 for 1.x) on PATH to read the file';

function envOf(s: Service | undefined): Record<string, string> {
  const e = s?.environment ?? {};
  const pairs = Array.isArray(e) ? e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : Object.entries(e);
  return Object.fromEntries(pairs.map(([k, v]) => [k, String(v ?? '')]));
}

/** Compose durations: 45s, 1m30s, 1500ms. */
function durationMs(d: string | undefined): number {
  const parts = [...(d ?? '').matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), `duration "${d}"`).toBe(d);
  const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, ns: 1e-6 } as const;
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

describe('docker-compose.yml', () => {
  it.skipIf(!cli)(
    cli ? `is accepted by \`${cli.label}\`` : 'validation skipped: neither docker compose nor docker-compose is on PATH',
    () => {
      expect(validated?.output).toBeDefined();
      expect(validated?.status, validated?.output).toBe(0);
    },
  );

  describe.skipIf(!model)(model ? 'services' : noModel, () => {
    const services = model?.services ?? {};
    const { redis, minio, api, worker } = services;

    it('has redis, minio, api and worker', () => {
      expect(Object.keys(services).sort()).toEqual(['api', 'minio', 'redis', 'worker']);
    });

    it('runs redis with the append-only file, on a named volume, with a ping healthcheck', () => {
      expect(JSON.stringify(redis?.command)).toMatch(/appendonly\W+yes/);
      expect(JSON.stringify(redis?.volumes)).toMatch(/redis-data.*\/data/);
      expect(JSON.stringify(redis?.healthcheck?.test)).toMatch(/redis-cli\W+ping/);
      expect(Object.keys(model?.volumes ?? {})).toEqual(expect.arrayContaining(['redis-data', 'minio-data']));
    });

    it('runs api and worker from the same build and image, each with its own entry point', () => {
      expect(api?.build).toBeDefined();
      expect(worker?.build).toEqual(api?.build);
      expect(worker?.image).toBe(api?.image);
      // The compiled entry points, as `npm run api` / `npm run worker` run them.
      expect(api?.command).toEqual(API_CMD);
      expect(worker?.command).toEqual(WORKER_CMD);
    });

    it('points api and worker at the compose redis and minio, and waits for them to be healthy', () => {
      for (const s of [api, worker]) {
        expect(envOf(s)).toMatchObject(COMPOSE_ENV);
        expect(s?.depends_on).toMatchObject({ redis: { condition: 'service_healthy' }, minio: { condition: 'service_healthy' } });
        expect(s?.deploy?.replicas).toBeDefined();
      }
    });

    it('checks api readiness on /readyz, on the port it pins', () => {
      expect(JSON.stringify(api?.healthcheck?.test)).toContain('http://127.0.0.1:3000/readyz');
      expect(envOf(api).PORT).toBe('3000');
      expect(JSON.stringify(api?.ports)).toContain('3000');
      expect(worker?.ports ?? []).toEqual([]);
    });

    it('gives api and worker a stop_grace_period longer than SHUTDOWN_TIMEOUT_MS', () => {
      const shutdownMs = Number(exampleEnv.SHUTDOWN_TIMEOUT_MS);
      expect(shutdownMs).toBeGreaterThan(0);
      for (const s of [api, worker]) expect(durationMs(s?.stop_grace_period)).toBeGreaterThan(shutdownMs);
    });

    it('takes the MinIO root credentials from the S3 variables the service uses', () => {
      expect(JSON.stringify(minio?.command)).toMatch(/server\W+\/data/);
      const e = envOf(minio);
      // Interpolated by a compose CLI, or still the ${...} text when read by `yaml`.
      expect(e.MINIO_ROOT_USER).toMatch(new RegExp(`^(${exampleEnv.S3_ACCESS_KEY}|\\$\\{S3_ACCESS_KEY\\b.*)$`));
      expect(e.MINIO_ROOT_PASSWORD).toMatch(new RegExp(`^(${exampleEnv.S3_SECRET_KEY}|\\$\\{S3_SECRET_KEY\\b.*)$`));
    });
  });
});

// ---- Dockerfile -----------------------------------------------------------------------

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'));

  it('builds on node:20-bookworm-slim: compiles in a build stage, ships dist/ with production dependencies only', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(instructions.filter((l) => l.startsWith('FROM')).every((l) => l.startsWith('FROM ${NODE_IMAGE}'))).toBe(true);
    expect(instructions).toContain('FROM ${NODE_IMAGE} AS build');
    expect(instructions).toContain('RUN npm run build');
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(instructions).toContain('COPY --from=build /app/dist ./dist');
  });

  it('the build stage installs dev dependencies (tsc) and copies in everything tsconfig.build.json compiles', () => {
    const from = instructions.indexOf('FROM ${NODE_IMAGE} AS build');
    const stage = instructions.slice(
      from + 1,
      instructions.findIndex((l, i) => i > from && l.startsWith('FROM')),
    );
    const ci = stage.find((l) => /^RUN npm ci\b/.test(l));
    expect(ci).toBeDefined();
    expect(ci).not.toMatch(/--omit=dev|--production/);
    const copied = stage.filter((l) => l.startsWith('COPY ')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied).toEqual(expect.arrayContaining(['tsconfig.json', 'tsconfig.build.json', ...buildConfig.include]));
    expect(stage.at(-1)).toBe('RUN npm run build');
  });

  it('runs node under tini, as a non-root user, with jemalloc preloaded', () => {
    const last = (kw: string) => instructions.filter((l) => l.startsWith(`${kw} `)).at(-1);
    expect(last('USER')).toBe('USER node');
    expect(last('ENTRYPOINT')).toBe('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(last('CMD')).toBe(`CMD ${JSON.stringify(API_CMD).replace(/,/g, ', ')}`);
    expect(dockerfile).toMatch(/LD_PRELOAD=\/usr\/local\/lib\/libjemalloc\.so\.2/);
    expect(dockerfile).toMatch(/NODE_ENV=production/);
    expect(last('HEALTHCHECK')).toContain('/readyz');
    // It probes only when PID 1's command line is the API's (a worker from this image has no HTTP port).
    const probed = /cmdline', 'utf8'\)\.includes\('([^']+)'\)/.exec(last('HEALTHCHECK') ?? '')?.[1];
    expect(probed).toBeDefined();
    expect(API_CMD.join(' ')).toContain(probed);
    expect(WORKER_CMD.join(' ')).not.toContain(probed);
  });

  it('keeps node_modules, data and local .env files out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'data', '.env', '.git']));
  });
});
