// Benchmark harness: `npm run bench` runs every scenario, `npm run bench -- <name>…` some.
// Each scenario runs its baselines and its subject in this one run; the figures are
// printed and written to that scenario's section of docs/BENCHMARKS.md. The exit code is 1
// when a scenario failed to run or missed a target.
import os from 'node:os';
import path from 'node:path';
import { commandLine, failedChecks, markdownSection, printResult, writeSection } from './lib/report.js';
import { repoRoot } from './lib/proc.js';
import type { Scenario } from './scenario.js';
import { catalogMemory } from './scenarios/catalog-memory.js';
import { cliVsCurl } from './scenarios/cli-vs-curl.js';
import { consolePaging } from './scenarios/console-paging.js';
import { externalScan } from './scenarios/external-scan.js';
import { mediaPreviews } from './scenarios/media-previews.js';
import { metadataRevert } from './scenarios/metadata-revert.js';
import { remap } from './scenarios/remap.js';
import { preflightChecksums } from './scenarios/preflight-checksums.js';
import { imageServing, imageServingOn } from './scenarios/image-serving.js';
import { onDemandRender } from './scenarios/on-demand-render.js';
import { renditionsIngest } from './scenarios/renditions-ingest.js';
import { tusThroughput, tusThroughputOn } from './scenarios/tus-throughput.js';
import { uploadCluster } from './scenarios/upload-cluster.js';
import { uploadSingle } from './scenarios/upload-single.js';
import { uploadThroughput, uploadThroughputOn } from './scenarios/upload-throughput.js';
import { workerScaling } from './scenarios/worker-scaling.js';

// The *-s3 scenarios are the same ones on STORAGE_DRIVER=s3 against Ceph's radosgw on this machine.
const scenarios: Scenario[] = [
  uploadThroughput,
  uploadSingle,
  tusThroughput,
  preflightChecksums,
  metadataRevert,
  remap,
  cliVsCurl,
  renditionsIngest,
  imageServing,
  onDemandRender,
  workerScaling,
  catalogMemory,
  uploadCluster,
  consolePaging,
  mediaPreviews,
  externalScan,
  uploadThroughputOn('s3'),
  imageServingOn('s3'),
  tusThroughputOn('s3'),
];

const BENCHMARKS_MD = path.join(repoRoot, 'docs', 'BENCHMARKS.md');

async function main(): Promise<number> {
  const names = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`Unknown scenario(s): ${unknown.join(', ')}. Known: ${scenarios.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const selected = names.length ? scenarios.filter((s) => names.includes(s.name)) : scenarios;

  let exitCode = 0;
  for (const s of selected) {
    console.log(`\n>> ${s.name}: ${s.description}`);
    const date = new Date();
    const load0 = os.loadavg()[0]!;
    if (load0 > 0.5)
      console.log(`   note: load average is ${load0.toFixed(2)}; other processes compete for the ${os.availableParallelism()} cores`);
    let result;
    try {
      result = await s.run();
    } catch (err) {
      console.error(`!! ${s.name} failed to run:`, err);
      exitCode = 1;
      continue;
    }
    printResult(s, result);
    await writeSection(
      BENCHMARKS_MD,
      s.name,
      markdownSection(s, result, { command: commandLine(names), date, load: [load0, os.loadavg()[0]!] }),
    );
    const failed = failedChecks(result);
    if (failed.length) {
      console.log(`${s.name}: ${failed.length} target(s) missed: ${failed.map((c) => c.name).join('; ')}`);
      exitCode = 1;
    }
  }
  console.log(`\nWrote ${path.relative(process.cwd(), BENCHMARKS_MD) || BENCHMARKS_MD}`);
  return exitCode;
}

// Exit explicitly: a server handle left open by a failed scenario must not keep the bench alive.
process.exit(await main());
