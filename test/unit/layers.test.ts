/**
 * The house's rules (.dependency-cruiser.cjs), run by dependency-cruiser on what tsc built:
 * the tree keeps them all; and each rule does catch what it
 * forbids, shown on a small tree of deliberate reaches made for the test.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');
const LAYERS = ['contract', 'agent', 'pool', 'host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench'].map((layer) => `dist/${layer}`);

async function cruise(cwd: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(depcruise, ['--config', config, '--output-type', 'err', ...args, ...LAYERS], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, output: stdout + stderr };
  }
}

test('the built tree keeps the layer rules and has no import cycle', async (t) => {
  const { code, output } = await cruise(root, []);
  t.is(code, 0, output);
  t.regex(output, /no dependency violations found/);
});

test('a deliberate reach past each rule -> dependency-cruiser fails, naming every rule broken', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-layers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'dist/contract/errors.js': "import '../pool/index.js';\nexport class WarmboxError extends Error {}\n",
    'dist/contract/limits.js': 'export const z = 3;\n',
    'dist/pool/index.js': "export * from './docker.js';\nimport '../contract/errors.js';\n",
    'dist/pool/docker.js': "import '../service/app.js';\nimport '../agent/server.js';\nexport const x = 1;\n",
    'dist/pool/warm-container.js': 'export const y = 2;\n',
    'dist/agent/server.js': "import '../pool/index.js';\nimport '../contract/limits.js';\n",
    'dist/host/doctor.js': "import '../pool/docker.js';\nimport '../pool/warm-container.js';\nimport '../image/build-image.js';\n",
    'dist/image/build-image.js': "import '../pool/index.js';\nimport '../pool/docker.js';\nimport '../pool/warm-container.js';\n",
    'dist/service/app.js': "import '../contract/errors.js';\nimport '../pool/index.js';\nimport '../pool/docker.js';\nimport '../agent/server.js';\nimport '../remote/remote-sandbox.js';\n",
    'dist/remote/remote-sandbox.js': "import '../contract/errors.js';\nimport '../wire/index.js';\n",
    'dist/wire/index.js': "import '../contract/limits.js';\nimport '../pool/warm-container.js';\nimport '../service/app.js';\n",
    'dist/mcp/server.js': "import '../wire/index.js';\nimport '../service/app.js';\n",
    'dist/cli/warmbox.js': "import '../pool/index.js';\n",
    'dist/bench/bench.js': "import './a.js';\n",
    'dist/bench/a.js': "import './bench.js';\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const { code, output } = await cruise(dir, []);
  t.not(code, 0);
  for (const [rule, reach] of [
    ['contract-is-the-ground', 'dist/contract/errors.js → dist/pool/index.js'],
    ['agent-stands-on-the-contract', 'dist/agent/server.js → dist/pool/index.js'],
    ['pool-does-not-look-up', 'dist/pool/docker.js → dist/service/app.js'],
    ['pool-does-not-look-up', 'dist/pool/docker.js → dist/agent/server.js'],
    ['host-and-image-are-peers', 'dist/host/doctor.js → dist/image/build-image.js'],
    ['host-and-image-reach-the-engine-through-pool', 'dist/host/doctor.js → dist/pool/warm-container.js'],
    ['host-and-image-reach-the-engine-through-pool', 'dist/image/build-image.js → dist/pool/warm-container.js'],
    ['upper-layers-use-pool-public-faces', 'dist/service/app.js → dist/pool/docker.js'],
    ['upper-layers-use-pool-public-faces', 'dist/wire/index.js → dist/pool/warm-container.js'],
    ['upper-layers-never-reach-into-the-agent', 'dist/service/app.js → dist/agent/server.js'],
    ['wire-is-below-its-users', 'dist/wire/index.js → dist/service/app.js'],
    ['mcp-is-below-its-transports', 'dist/mcp/server.js → dist/service/app.js'],
    ['service-and-remote-are-peers', 'dist/service/app.js → dist/remote/remote-sandbox.js'],
    ['no-circular', 'dist/bench/a.js'],
  ] as const) {
    t.true(output.includes(`error ${rule}: ${reach}`) || (rule === 'no-circular' && output.includes(`error ${rule}:`) && output.includes(reach)), `${rule}: ${reach}\n${output}`);
  }
  // The contract from anywhere, the public faces from above, and the engine from host/ and image/ are no reach.
  for (const allowed of [
    'dist/service/app.js → dist/contract/errors.js',
    'dist/service/app.js → dist/pool/index.js',
    'dist/agent/server.js → dist/contract/limits.js',
    'dist/pool/index.js → dist/contract/errors.js',
    'dist/host/doctor.js → dist/pool/docker.js',
    'dist/image/build-image.js → dist/pool/docker.js',
    'dist/wire/index.js → dist/contract/limits.js',
    'dist/remote/remote-sandbox.js → dist/wire/index.js',
    'dist/mcp/server.js → dist/wire/index.js',
  ]) {
    t.false(output.includes(allowed), allowed);
  }
});
