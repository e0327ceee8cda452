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
  target: 'es2020',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// Only this build's files stay: a hashed name is served as immutable.
const built = new Set(Object.keys(result.metafile.outputs).map((f) => path.basename(f)));
for (const f of await fs.readdir(path.join(out, 'assets'))) if (!built.has(f)) await fs.rm(path.join(out, 'assets', f));

const asset = (ext: string) => [...built].find((f) => f.endsWith(ext))!;
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
await fs.writeFile(path.join(out, 'index.html'), index);

let raw = 0;
let gz = 0;
for (const f of built) {
  const bytes = await fs.readFile(path.join(out, 'assets', f));
  raw += bytes.length;
  gz += gzipSync(bytes).length;
}
if (!process.argv.includes('--quiet')) console.log(`console built: dist/console (${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped)`);
