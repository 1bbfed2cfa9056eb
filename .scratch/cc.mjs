import { build } from 'esbuild';
await build({ entryPoints: ['node_modules/fastify/fastify.js'], outfile: '.scratch/fastify.cjs', bundle: true, platform: 'node', format: 'cjs', minify: true, logLevel: 'warning' });
