// Bundles agent/ into one file for the image: one file loads faster than node_modules. The
// schemas are compiled to code first, here, so that no container compiles them as it starts.
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning' };

// Built-in modules Fastify requires as it loads but the agent never uses: it serves plain HTTP
// on a Unix socket, so HTTPS, HTTP/2 and DNS lookups never happen. Loading them (with crypto
// and tls behind them) costs every container start some 16 ms of CPU; in the bundle each is a
// stand-in that loads the real module on first use, should any ever come.
const UNUSED_BUILTINS = ['node:https', 'node:http2', 'node:dns'];
const loadUnusedBuiltinsOnUse = {
  name: 'load-unused-builtins-on-use',
  setup(build) {
    const filter = new RegExp(`^(${UNUSED_BUILTINS.join('|')})$`);
    build.onResolve({ filter }, ({ path, namespace }) =>
      namespace === 'on-use' ? { path, external: true } : { path, namespace: 'on-use' },
    );
    build.onLoad({ filter: /.*/, namespace: 'on-use' }, ({ path }) => ({
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(path)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),
});`,
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
  plugins: [loadUnusedBuiltinsOnUse],
});
