/**
 * The package's light entries, as built: `warmbox/errors` and `warmbox/remote` load neither
 * dockerode nor generic-pool (nor any other package of the pool's), so a process that only
 * calls a service pays for none of them. Each is imported in a fresh Node process, which then
 * lists the CommonJS files it loaded (ESM imports of CommonJS packages land there too).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const dist = new URL('../../dist/', import.meta.url);

async function loadedPackages(entry: string): Promise<string[]> {
  const script = `
    const entry = await import(${JSON.stringify(new URL(entry, dist).href)});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    const packages = new Set(loaded.map((file) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(file)?.[1]).filter(Boolean));
    console.log(JSON.stringify({ exports: Object.keys(entry).length, packages: [...packages].sort() }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  const { exports, packages } = JSON.parse(stdout) as { exports: number; packages: string[] };
  if (exports === 0) throw new Error(`${entry} exports nothing`);
  return packages;
}

test('warmbox/errors -> loads no package at all', async (t) => {
  t.deepEqual(await loadedPackages('contract/errors.js'), []);
});

test('warmbox/remote -> loads undici only: no dockerode, no generic-pool', async (t) => {
  t.deepEqual(await loadedPackages('remote/remote-sandbox.js'), ['undici']);
});

test('the full entry, for comparison -> loads dockerode and generic-pool (what the check above would see)', async (t) => {
  const packages = await loadedPackages('pool/index.js');
  t.true(packages.includes('dockerode') && packages.includes('generic-pool'), packages.join(', '));
});
