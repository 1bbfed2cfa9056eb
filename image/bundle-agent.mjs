// Bundles agent/ into one file for the image: one file loads faster than node_modules. The
// schemas are compiled to code first, here, so that no container compiles them as it starts.
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };

await build({ ...common, entryPoints: ['agent/compile-schemas.ts'], outfile: 'dist/agent/compile-schemas.mjs', format: 'esm', packages: 'external' });
const { compileSchemas } = await import(pathToFileURL('dist/agent/compile-schemas.mjs').href);
await writeFile('dist/agent/schemas.generated.cjs', await compileSchemas());

// CommonJS, so that agent/boot.cjs can run it through a vm.Script with V8's code cache.
await build({
  ...common,
  entryPoints: ['agent/server.ts'],
  outfile: 'dist/agent/agent.cjs',
  format: 'cjs',
  // Less to parse at every container start.
  minify: true,
  alias: { 'warmbox:compiled-schemas': './dist/agent/schemas.generated.cjs' },
});
