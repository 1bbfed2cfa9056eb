/**
 * README and docs/ say what the code says: each fact below is read from its one place in the
 * code and looked for in the text, so a number or a list that could rot is held true here.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { AGENT_ROUTES } from '../../contract/protocol.js';
import { EGRESS_REASONS } from '../../contract/egress.js';
import { ERROR_TYPES, REPORT_LINES } from '../../contract/report.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const DOCS = ['README.md', 'CONTRIBUTING.md', 'deploy/README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];

test('README is for users: at most 600 lines, the rest in docs/', (t) => {
  const lines = read('README.md').trimEnd().split('\n').length;
  t.true(lines <= 600, `README.md has ${lines} lines`);
});

test("README's table of error types is contract/report.ts's ERROR_TYPES, no more and no fewer", (t) => {
  const table = read('README.md').split('| `error.type` | When |')[1]!.split('\n\n')[0]!;
  t.deepEqual([...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]), Object.values(ERROR_TYPES));
});

test("docs/architecture.md names every agent route and the report's lines in their order", (t) => {
  const text = read('docs/architecture.md');
  for (const route of Object.values(AGENT_ROUTES)) t.true(text.includes(`\`${route}\``), route);
  t.true(text.includes(`REPORT_LINES\`: ${REPORT_LINES.join(', ')}`));
});

test('every relative link in README and docs/ reaches a file', (t) => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    for (const [, target] of read(doc).matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
      if (!existsSync(join(root, dirname(doc), target!))) broken.push(`${doc} -> ${target}`);
    }
  }
  t.deepEqual(broken, []);
});

test("docs/network.md lists every egress reason the proxy gives, no more and no fewer", (t) => {
  const table = read('docs/network.md').split('| `reason` | |')[1]!.split('\n\n')[0]!;
  const listed = [...table.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]);
  t.deepEqual([...listed].sort(), [...EGRESS_REASONS].sort());
});
