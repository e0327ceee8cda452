// Builds the web console (console/src) into dist/console: one hashed script and one
// hashed stylesheet, and the index.html that names them. Run by `npm run build:console`
// (before `npm start`, `npm run api`, `npm test` and in the Docker build stage); the
// API serves the output at /console (api/routes/console.ts). Nothing is fetched at run
// time: Preact and htm are bundled in.
import { build } from 'esbuild';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.join(root, 'dist', 'console');

const result = await build({
  entryPoints: { main: path.join(root, 'console/src/main.ts'), style: path.join(root, 'console/src/style.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  // Code loaded on first use (tus-js-client) becomes its own chunk, fetched from /console/assets.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  target: 'es2020',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
});

// Each file is written beside its place and renamed into it, the page last: a running API
// (or a test building at the same time) never serves half a file or a page naming a
// file not there yet.
async function put(file: string, contents: Uint8Array | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, contents);
  await fs.rename(tmp, file);
}
const built = new Map(result.outputFiles.map((f) => [path.basename(f.path), f.contents]));
for (const f of result.outputFiles) await put(f.path, f.contents);

const asset = (ext: string) => [...built.keys()].find((f) => f.startsWith(ext === '.js' ? 'main-' : 'style-') && f.endsWith(ext))!;
const index = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>media-ingest console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${asset('.css')}">
<script type="module" src="/console/assets/${asset('.js')}"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
await put(path.join(out, 'index.html'), index);

// Older builds' assets go; a hashed name is served as immutable, so the page's are enough.
for (const f of await fs.readdir(path.join(out, 'assets')))
  if (!built.has(f) && !f.endsWith('.tmp')) await fs.rm(path.join(out, 'assets', f), { force: true });

let raw = 0;
let gz = 0;
for (const bytes of built.values()) {
  raw += bytes.length;
  gz += gzipSync(bytes).length;
}
if (!process.argv.includes('--quiet'))
  console.log(`console built: dist/console (${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped)`);
