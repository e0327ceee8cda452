import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * Tests in tiers (`npm run test:unit`, `test:integration`, `test:slow`; `npm test` runs
 * all). Only the tiers that talk to Redis and S3 have the global setup that starts them.
 * Each test file belongs to exactly one tier (test/unit/tiers.test.ts checks it).
 */
export const TIERS = {
  /** Pure functions and the repository's own files: no server, well under 10 s. */
  unit: ['test/unit/**/*.test.ts'],
  /** The service in-process against real Redis and S3, the compat clients, CLI commands. */
  integration: [
    'test/integration/**/*.test.ts',
    'test/contract/**/*.test.ts',
    'test/compat/**/*.test.ts',
    'test/cli/reindex.test.ts',
    'test/security/**/*.test.ts',
  ],
  /** Faults, real processes end to end, CLI kill and resume, bulk revert at scale. */
  slow: [
    'test/faults/**/*.test.ts',
    'test/e2e/**/*.test.ts',
    'test/cli/upload.test.ts',
    'test/slow/**/*.test.ts',
    'test/browser/**/*.test.ts',
  ],
} as const;

// Without redis-server the tiers that need it cannot run: say so, and run the rest
// (scripts/ensure-deps.sh, run before `npm test`, installs it as root).
const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasRedis) {
  console.warn('integration and slow tests skipped: redis-server is not installed (sudo apt-get install -y redis-server)');
}

const services = ['test/harness/global-setup.ts'];
// Tiers run one after the other (groupOrder). Integration files run two at a time even on
// 2 cores: most of their time is spent waiting on Redis, the store and the worker's
// programs, and a second file fills it. The slow tier keeps vitest's default (one file
// at a time on 2 cores): its processes are killed on timers and its kills must land
// mid-run.
const cpus = os.availableParallelism();
const projects: TestProjectInlineConfiguration[] = [
  { extends: true, test: { name: 'unit', include: [...TIERS.unit], pool: 'threads', sequence: { groupOrder: 0 } } },
  ...(hasRedis
    ? [
        {
          extends: true as const,
          test: {
            name: 'integration',
            include: [...TIERS.integration],
            globalSetup: services,
            maxWorkers: Math.max(2, cpus - 1),
            sequence: { groupOrder: 1 },
          },
        },
        { extends: true as const, test: { name: 'slow', include: [...TIERS.slow], globalSetup: services, sequence: { groupOrder: 2 } } },
      ]
    : []),
];

export default defineConfig({
  test: {
    projects,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Files run in parallel processes; each uses its own Redis prefix and bucket.
    pool: 'forks',
  },
});
