// Builds the PWA into dist/: index.html, app.js, app.css, sw.js, manifest.webmanifest, icons.
// Everything comes from npm packages at build time; nothing is loaded from a CDN at run time.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { encodePNG, iconPixels, iconSVG } from './icons.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const BUDGET = 300 * 1024;
const watch = process.argv.includes('--dev');

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'icons'), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: join(root, 'src/main.tsx') },
  bundle: true,
  minify: !watch,
  sourcemap: false,
  format: 'esm',
  splitting: true, // Leaflet and the map screens load on demand (chunks/)
  chunkNames: 'chunks/[name]-[hash]',
  target: ['chrome100', 'safari15', 'firefox100'],
  outdir: dist,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.png': 'dataurl', '.svg': 'dataurl' },
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

// Icons (generated: no binary assets in the repo).
const icons = [];
writeFileSync(join(dist, 'icons/icon.svg'), iconSVG());
for (const size of [192, 512]) {
  writeFileSync(join(dist, `icons/icon-${size}.png`), encodePNG(size, size, iconPixels(size, false)));
  writeFileSync(join(dist, `icons/maskable-${size}.png`), encodePNG(size, size, iconPixels(size, true)));
  icons.push({ src: `icons/icon-${size}.png`, sizes: `${size}x${size}`, type: 'image/png', purpose: 'any' });
  icons.push({ src: `icons/maskable-${size}.png`, sizes: `${size}x${size}`, type: 'image/png', purpose: 'maskable' });
}
icons.push({ src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' });

const manifest = {
  name: 'DotMac Field',
  short_name: 'Field',
  description: 'Field service jobs for technicians: works without a signal.',
  start_url: './#/jobs',
  scope: './',
  display: 'standalone',
  orientation: 'any',
  background_color: '#0f172a',
  theme_color: '#0b4f9c',
  icons,
};
writeFileSync(join(dist, 'manifest.webmanifest'), JSON.stringify(manifest, null, 2));

// Preload the chunks app.js imports statically (fetched in parallel with app.js).
const appOut = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint?.endsWith('src/main.tsx'));
const preloads = (appOut?.[1].imports ?? [])
  .filter((i) => i.kind === 'import-statement' && !i.external)
  .map((i) => `<link rel="modulepreload" href="${i.path.replace(/^.*?dist\//, '')}">`);
const html = readFileSync(join(root, 'src/index.html'), 'utf8').replace('</head>', preloads.map((l) => l + '\n').join('') + '</head>');
writeFileSync(join(dist, 'index.html'), html);

// Service worker: versioned by a hash of every shell file so a new build replaces the old cache.
const shell = listFiles(dist).filter((f) => f !== 'sw.js');
const hash = createHash('sha256');
for (const f of shell.sort()) hash.update(f).update(readFileSync(join(dist, f)));
const version = hash.digest('hex').slice(0, 12);
const sw = readFileSync(join(root, 'src/sw.js'), 'utf8')
  .replace('__VERSION__', version)
  .replace('__SHELL__', JSON.stringify(['./', ...shell.map((f) => './' + f)]));
writeFileSync(join(dist, 'sw.js'), sw);

// Size report.
let total = 0;
const rows = [];
for (const f of listFiles(dist).sort()) {
  const buf = readFileSync(join(dist, f));
  const gz = gzipSync(buf, { level: 9 }).length;
  if (/\.(js|css)$/.test(f) && f !== 'sw.js') total += gz;
  rows.push(`  ${f.padEnd(28)} ${String(buf.length).padStart(8)} B  ${String(gz).padStart(7)} B gzip`);
}
console.log(`dist/ (build ${version})\n${rows.join('\n')}`);
console.log(`JS + CSS gzipped: ${(total / 1024).toFixed(1)} KB (budget ${BUDGET / 1024} KB; all .js and .css shipped, sw.js excluded)`);
if (total > BUDGET) {
  console.error('over the 300 KB budget');
  process.exit(1);
}
if (result.errors.length) process.exit(1);

function listFiles(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, prefix + name + '/'));
    else out.push(prefix + name);
  }
  return out;
}
