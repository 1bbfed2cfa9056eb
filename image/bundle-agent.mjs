// Bundles agent/ into one file for the image: one file loads faster than node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['agent/server.ts'],
  outfile: 'dist/agent/agent.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  // Some of fastify's dependencies are CommonJS and call require() on Node built-ins.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
