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
const LAYERS = ['pool', 'agent', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench', 'image'].map((layer) => `dist/${layer}`);

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
    'dist/pool/index.js': "export * from './docker.js';\n",
    'dist/pool/docker.js': "import '../service/app.js';\nexport const x = 1;\n",
    'dist/pool/errors.js': 'export class WarmboxError extends Error {}\n',
    'dist/agent/server.js': "import '../pool/index.js';\n",
    'dist/service/app.js': "import '../pool/errors.js';\nimport '../pool/index.js';\nimport '../pool/docker.js';\nimport '../agent/server.js';\nimport '../remote/remote-sandbox.js';\n",
    'dist/remote/remote-sandbox.js': "import '../pool/errors.js';\nimport '../wire/index.js';\n",
    'dist/wire/index.js': "import '../pool/limits.js';\nimport '../pool/report-schema.js';\nimport '../pool/warm-container.js';\nimport '../service/app.js';\n",
    'dist/pool/limits.js': 'export const z = 3;\n',
    'dist/mcp/server.js': "import '../wire/index.js';\nimport '../service/app.js';\n",
    'dist/pool/report-schema.js': 'export const w = 4;\n',
    'dist/cli/warmbox.js': "import '../pool/index.js';\n",
    'dist/bench/bench.js': "import './a.js';\n",
    'dist/bench/a.js': "import './bench.js';\n",
    'dist/image/build-image.js': "import '../pool/index.js';\nimport '../pool/docker.js';\nimport '../pool/warm-container.js';\n",
    'dist/pool/warm-container.js': 'export const y = 2;\n',
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const { code, output } = await cruise(dir, []);
  t.not(code, 0);
  for (const [rule, reach] of [
    ['agent-stays-on-the-ground', 'dist/agent/server.js → dist/pool/index.js'],
    ['pool-does-not-look-up', 'dist/pool/docker.js → dist/service/app.js'],
    ['upper-layers-use-pool-public-faces', 'dist/service/app.js → dist/pool/docker.js'],
    ['upper-layers-reach-the-agent-through-pool', 'dist/service/app.js → dist/agent/server.js'],
    ['upper-layers-use-pool-public-faces', 'dist/wire/index.js → dist/pool/warm-container.js'],
    ['wire-is-below-its-users', 'dist/wire/index.js → dist/service/app.js'],
    ['mcp-is-below-its-transports', 'dist/mcp/server.js → dist/service/app.js'],
    ['service-and-remote-are-peers', 'dist/service/app.js → dist/remote/remote-sandbox.js'],
    ['image-builds-through-pool-engine', 'dist/image/build-image.js → dist/pool/warm-container.js'],
    ['no-circular', 'dist/bench/a.js'],
  ] as const) {
    t.true(output.includes(`error ${rule}: ${reach}`) || (rule === 'no-circular' && output.includes(`error ${rule}:`) && output.includes(reach)), `${rule}: ${reach}\n${output}`);
  }
  // The public faces and the layers' own files are no reach: pool/index.js and pool/errors.js from above.
  t.false(output.includes('dist/service/app.js → dist/pool/errors.js'));
  t.false(output.includes('dist/service/app.js → dist/pool/index.js'));
  t.false(output.includes('dist/image/build-image.js → dist/pool/docker.js'));
  t.false(output.includes('dist/wire/index.js → dist/pool/limits.js'));
  t.false(output.includes('dist/wire/index.js → dist/pool/report-schema.js'));
  t.false(output.includes('dist/remote/remote-sandbox.js → dist/wire/index.js'));
  t.false(output.includes('dist/mcp/server.js → dist/wire/index.js'));
});
