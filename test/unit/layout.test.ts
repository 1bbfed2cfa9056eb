/**
 * The container's layout is written once, in contract/layout.ts: the image, the runner, the
 * agent, the pool, the bench and the service take it from there. Any copy of one of its
 * values elsewhere in the product's files fails here, comments included (a comment that
 * names a path goes stale as surely as code).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import picomatch from 'picomatch';
import * as layout from '../../contract/layout.js';
import { BASE_RECIPE, IMAGE_CONTEXT_FILES, IMAGE_INPUTS } from '../../pool/image.js';
import { SESSION_ID_LENGTH } from '../../contract/limits.js';
import { ERROR_TYPES } from '../../contract/report.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PRODUCT = ['Dockerfile.agent', 'contract', 'agent', 'pool', 'host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench', 'deploy', '.ci'];

function filesUnder(path: string): string[] {
  const full = join(root, path);
  if (statSync(full).isFile()) return [path];
  return readdirSync(full).flatMap((name) => filesUnder(join(path, name)));
}

// The values that only the layout can mean, as they would be written in a copy of it.
const COPIES: ReadonlyArray<readonly [string, RegExp]> = [
  ['PROGRAM_UID', new RegExp(`\\b${layout.PROGRAM_UID}\\b`)],
  ['AGENT_DIR and MATPLOTLIB_CACHE_DIR', new RegExp(`${layout.AGENT_DIR.split('/').slice(0, 3).join('/')}(?![-\\w])`)],
  ['AGENT_IO_DIR', new RegExp(`${layout.AGENT_IO_DIR.split('/').slice(0, 3).join('/')}(?![-\\w])`)],
  ['RUNNER_PATH', new RegExp(layout.RUNNER_PATH)],
  ['AGENT_SOCKET_NAME', new RegExp(`['"\`]${layout.AGENT_SOCKET_NAME}['"\`]`)],
  ['MAIN_FILE_NAME', new RegExp(`['"\`]${layout.MAIN_FILE_NAME}['"\`]`)],
  ['the runner\'s file descriptors', /\b(JOB|RESULT|STDERR)_FD\s*=\s*\d/],
];

test('no value of the container\'s layout is written outside contract/layout.ts', (t) => {
  const files = PRODUCT.flatMap(filesUnder).filter((file) => file !== join('contract', 'layout.ts') && !file.includes('__pycache__'));
  t.true(files.length > 50, `${files.length} files read`);
  const found: string[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    lines.forEach((line, index) => {
      for (const [name, copy] of COPIES) if (copy.test(line)) found.push(`${relative(root, join(root, file))}:${index + 1} copies ${name}: ${line.trim()}`);
    });
  }
  t.deepEqual(found, []);
});

test('the image is built with every layout value it needs as a build argument, and Dockerfile.agent declares each', (t) => {
  const dockerfile = readFileSync(join(root, 'Dockerfile.agent'), 'utf8');
  const declared = [...dockerfile.matchAll(/^ARG (\w+)$/gm)].map((m) => m[1]).filter((name) => name !== 'BASE');
  t.deepEqual(declared.sort(), [...Object.keys(layout.LAYOUT_BUILD_ARGS), ...Object.keys(IMAGE_INPUTS)].sort());
  // Every file it copies in comes by one of those arguments: no COPY names a source of its own.
  const sources = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
  t.deepEqual(sources.filter((source) => !/^\$\{\w+\}$/.test(source)), []);
});

test("the image's inputs and its base's recipe are in package.json's files, so an installed package builds the same image", (t) => {
  const { files } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  const packed = picomatch(files);
  t.deepEqual([...IMAGE_CONTEXT_FILES, BASE_RECIPE].filter((file) => !packed(file)), []);
});

test('the runner\'s vocabulary is written only in contract/report.ts: no error type is spelled as a string anywhere else', (t) => {
  const files = PRODUCT.flatMap(filesUnder).filter((file) => file !== join('contract', 'report.ts') && !file.includes('__pycache__'));
  const found: string[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    lines.forEach((line, index) => {
      for (const type of Object.values(ERROR_TYPES)) if (new RegExp(`['"\`]${type}['"\`]`).test(line)) found.push(`${file}:${index + 1} spells ${type}`);
    });
  }
  t.deepEqual(found, []);
});

test('deploy/haproxy.cfg keeps a session id whole: its stick table\'s strings are SESSION_ID_LENGTH long', (t) => {
  const config = readFileSync(join(root, 'deploy', 'haproxy.cfg'), 'utf8');
  t.deepEqual([...config.matchAll(/stick-table type string len (\d+)/g)].map((m) => Number(m[1])), [SESSION_ID_LENGTH]);
});
