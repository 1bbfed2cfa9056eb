/**
 * The attack corpus: every file in test/fixtures/attacks is a program that attacks the
 * sandbox, opening with a docstring that says what it attempts and, on its `expect:` line,
 * what the result must be (under gVisor, on its `gvisor:` line where the answer differs by
 * design). Each is one test: the attack ends as that result, and the pool then runs a normal
 * job.
 */
import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import type { Job, RunResult } from '../../pool/index.js';
import { GVISOR, Sandbox } from '../helpers/sandbox.js';

const dir = new URL('../fixtures/attacks/', import.meta.url);

interface Attack {
  readonly file: string;
  readonly code: string;
  /** Fields of the result, compared with t.like, and the checks below: one outcome, or (gVisor) one per status it allows. */
  readonly expect: ReadonlyArray<Partial<RunResult> & Checks>;
  readonly job: JobSpec;
}

interface Checks {
  /** Numbers in `result` that must not exceed these: the bound is judged here, not by the program. */
  readonly resultAtMost?: Record<string, number>;
  /** Lists in `result` that may hold nothing but these (where what a runtime shows varies by its version). */
  readonly resultWithin?: Record<string, string[]>;
  readonly stdoutLength?: number;
  readonly stderrLength?: number;
  readonly resultLength?: number;
  readonly errorType?: string;
  readonly errorMessage?: string;
  /** The files that must come back, and nothing else: path -> text, size, or null for any content. */
  readonly returned?: Record<string, string | number | null>;
}

/** The `job:` line: job fields, and recipes for inputs too large to write in a file. */
interface JobSpec extends Pick<Job, 'timeoutMs' | 'cpuTimeMs' | 'stdin' | 'data' | 'returnFiles'> {
  readonly dataString?: number;
  readonly dataDepth?: number;
  readonly padCodeBytes?: number;
}

function load(file: string): Attack {
  const code = readFileSync(new URL(file, dir), 'utf8');
  const docstring = /^"""([\s\S]*?)"""/.exec(code)?.[1];
  if (docstring === undefined) throw new Error(`${file} does not open with a docstring`);
  const line = (key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(docstring)?.[1];
  // Under gVisor, an attack whose answer differs by design says so on a `gvisor:` line, and
  // its docstring says why (README, gVisor: what differs).
  // Where gVisor races by design, its line lists each outcome it allows, told apart by status.
  const expect = (GVISOR ? line('gvisor') : undefined) ?? line('expect');
  if (expect === undefined) throw new Error(`${file} has no expect: line`);
  const parsed = JSON.parse(expect) as Attack['expect'][number] | Attack['expect'];
  return { file, code, expect: Array.isArray(parsed) ? parsed : [parsed as Attack['expect'][number]], job: JSON.parse(line('job') ?? '{}') as JobSpec };
}

function jobOf({ code, job }: Attack): Job {
  const { dataString, dataDepth, padCodeBytes, ...fields } = job;
  let data: unknown = fields.data;
  if (dataString !== undefined) data = 'd'.repeat(dataString);
  if (dataDepth !== undefined) data = JSON.parse('['.repeat(dataDepth) + ']'.repeat(dataDepth));
  const padding = padCodeBytes === undefined ? '' : `\n# ${'p'.repeat(padCodeBytes)}\n`;
  return { ...fields, code: code + padding, data, timeoutMs: fields.timeoutMs ?? 10_000 };
}

const attacks = readdirSync(dir).filter((f) => f.endsWith('.py')).sort().map(load);

// One pool for the whole corpus, as a service would run it; every attack gets a container
// of its own from it.
const sandbox = new Sandbox({ poolSize: 4, maxQueue: 1000, queueTimeoutMs: 600_000 });
test.before(() => sandbox.initialize());
test.after.always(() => sandbox.close());

test('the corpus holds at least 60 attacks, each with a docstring and an expected result', (t) => {
  t.true(attacks.length >= 60, `${attacks.length} attacks`);
});

for (const attack of attacks) {
  test(attack.file.replace(/\.py$/, ''), async (t) => {
    const r = await sandbox.run(jobOf(attack));
    const expected = attack.expect.find((outcome) => outcome.status === r.status) ?? attack.expect[0]!;
    const { resultAtMost, resultWithin, stdoutLength, stderrLength, resultLength, errorType, errorMessage, returned, ...fields } = expected;
    t.like(r, fields, `${attack.file}: ${JSON.stringify({ ...r, stdout: r.stdout.slice(0, 300), stderr: r.stderr.slice(0, 600), result: JSON.stringify(r.result)?.slice(0, 200) })}`);
    for (const [key, most] of Object.entries(resultAtMost ?? {})) {
      const value = (r.result as Record<string, unknown> | null)?.[key];
      t.true(typeof value === 'number' && value <= most, `${key} is ${String(value)}, at most ${most} expected`);
    }
    for (const [key, allowed] of Object.entries(resultWithin ?? {})) {
      const value = (r.result as Record<string, unknown> | null)?.[key];
      t.true(Array.isArray(value), `${key} is ${JSON.stringify(value)}, a list expected`);
      t.deepEqual((value as unknown[]).filter((item) => !allowed.includes(item as string)), [], `${key} holds only ${allowed.join(', ')}`);
    }
    if (stdoutLength !== undefined) t.is(Buffer.byteLength(r.stdout), stdoutLength);
    if (stderrLength !== undefined) t.is(Buffer.byteLength(r.stderr), stderrLength);
    if (resultLength !== undefined) t.is((r.result as string).length, resultLength);
    if (errorType !== undefined) t.is(r.error?.type, errorType, r.error?.message);
    if (errorMessage !== undefined) t.true(r.error?.message.includes(errorMessage), r.error?.message);
    if (returned !== undefined) {
      t.deepEqual(r.files.map((file) => file.path), Object.keys(returned).sort());
      for (const file of r.files) {
        const expected = returned[file.path];
        if (typeof expected === 'string') t.is(file.data.toString('utf8'), expected, file.path);
        if (typeof expected === 'number') t.is(file.size, expected, file.path);
        t.is(file.data.length, file.size, file.path);
      }
    }
    t.is(r.isError, r.status !== 'ok');
    // The pool is unharmed: a normal job runs right after.
    t.like(await sandbox.run({ code: 'result = data * 2', data: 21 }), { status: 'ok', result: 42 });
  });
}
