// Run before `npm run api` / `npm run worker` (their pre-scripts): they start the
// compiled output in dist/ and never build it themselves — replicas started together
// would all rewrite dist/ at once and load half-written files. Build once with
// `npm run build`; this says so when dist/ is missing or older than its sources.
//   node scripts/check-build.mjs dist/api/main.js [root]
import fs from 'node:fs';
import path from 'node:path';

const [entry, root = process.cwd()] = process.argv.slice(2);
/** The sources that end up in the production entry points (tsconfig.build.json compiles them). */
const SOURCE_DIRS = ['api', 'shared', 'worker'];

function newestSource(dir) {
  let newest = { file: undefined, mtime: 0 };
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !/\.(ts|json)$/.test(e.name)) continue;
    const file = path.join(e.parentPath, e.name);
    const mtime = fs.statSync(file).mtimeMs;
    if (mtime > newest.mtime) newest = { file, mtime };
  }
  return newest;
}

const built = path.join(root, entry);
if (!fs.existsSync(built)) {
  console.error(`${entry} is not built: run \`npm run build\` once, then start as many API and worker processes as you like.`);
  process.exit(1);
}
const builtAt = fs.statSync(built).mtimeMs;
const newest = SOURCE_DIRS.filter((d) => fs.existsSync(path.join(root, d)))
  .map((d) => newestSource(path.join(root, d)))
  .reduce((a, b) => (b.mtime > a.mtime ? b : a), { file: undefined, mtime: 0 });
if (newest.mtime > builtAt) {
  console.error(
    `${entry} is older than ${path.relative(root, newest.file)}: run \`npm run build\` to compile the current sources, then start again.`,
  );
  process.exit(1);
}
