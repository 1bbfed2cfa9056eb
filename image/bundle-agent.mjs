// Bundles agent/ into one file for the image: one file loads faster than node_modules. The
// schemas are compiled to code first, here, so that no container compiles them as it starts.
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };

// Modules Fastify requires as it loads that the agent never or seldom uses. Each costs every
// container start its loading; in the bundle each is a stand-in that loads it on first use.
// - Built-ins: the agent serves plain HTTP on a Unix socket, so HTTPS, HTTP/2 and DNS lookups
//   never happen; loading them (with crypto and tls behind them) cost some 16 ms of CPU.
// - semver (47 modules, 40 regular expressions built as they load): Fastify checks a plugin's
//   version with it, and the agent registers no versioned plugin. It stays in the bundle.
const ON_FIRST_USE = { 'node:https': 'external', 'node:http2': 'external', 'node:dns': 'external', semver: 'bundled' };
// Fastify's own schema compilers, with Ajv and fast-json-stringify's compiler behind them (a
// third of the bundle): Fastify requires them only when no compilers are given, and the agent
// always gives its precompiled ones (agent/compiled-schemas.ts). Left out of the bundle.
const NEVER_LOADED = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];

const exactly = (names) => new RegExp(`^(${names.map((name) => name.replace(/[/.]/g, '\\$&')).join('|')})$`);
const standIns = {
  name: 'stand-ins',
  setup(build) {
    build.onResolve({ filter: exactly(Object.keys(ON_FIRST_USE)) }, ({ path, namespace, resolveDir }) => {
      if (namespace !== 'on-first-use') return { path, namespace: 'on-first-use', pluginData: resolveDir };
      // The stand-in's own require: the real module.
      return ON_FIRST_USE[path] === 'external' ? { path, external: true } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, ({ path, pluginData }) => ({
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(path)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),
});`,
      loader: 'js',
      resolveDir: pluginData,
    }));
    build.onResolve({ filter: exactly(NEVER_LOADED) }, ({ path }) => ({ path, namespace: 'never-loaded' }));
    build.onLoad({ filter: /.*/, namespace: 'never-loaded' }, ({ path }) => ({
      contents: `throw new Error(${JSON.stringify(`${path} is not in the agent's bundle: the agent gives Fastify precompiled schemas (image/bundle-agent.mjs)`)});`,
      loader: 'js',
    }));
  },
};

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
  plugins: [standIns],
});
