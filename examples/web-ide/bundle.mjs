// Bundles the example web IDE's script (page.ts, with CodeMirror) into dist/web-ide/page.js,
// beside a copy of index.html: the directory `warmbox serve --demo` serves, needing no CDN.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

await mkdir('dist/web-ide', { recursive: true });
await build({
  entryPoints: ['examples/web-ide/page.ts'],
  outfile: 'dist/web-ide/page.js',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile('examples/web-ide/index.html', 'dist/web-ide/index.html');
