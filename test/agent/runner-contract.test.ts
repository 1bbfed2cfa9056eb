/**
 * The contract between the agent's TypeScript side (agent/python-runner.ts, with the layout of
 * contract/layout.ts) and the real agent/runner.py, run by this machine's Debian python3: the job
 * goes in on the job channel, the ready line and the report's lines come back on the result
 * channel, and they agree. The same check is shown failing on a copy of runner.py whose
 * framing drifted: a report with a line too many.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { PythonRunner } from '../../agent/python-runner.js';
import { job, RUNNER_PATH, withOutput } from '../helpers/agent.js';

const PYTHON = '/usr/bin/python3';

/** Runs one job through PythonRunner against the runner at `runnerPath`; its answer, or why it could not start. */
async function roundTrip(t: ExecutionContext, runnerPath: string) {
  const cwd = await mkdtemp(join(tmpdir(), 'warmbox-contract-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const runner = await PythonRunner.start({ pythonPath: PYTHON, runnerPath, cwd, returnedFilesDir: join(cwd, 'out') });
  t.teardown(() => runner.kill());
  const answer = await withOutput((onOutput) => runner.run(job({ code: 'print("out")\nresult = {"sum": sum(data)}' }), [Buffer.from('[1, 2, 3]')], onOutput));
  return { response: answer.response, result: Buffer.concat(answer.resultJson).toString('utf8') };
}

/** A copy of runner.py with one piece of its framing changed; fails if the piece is not there to change. */
async function drifted(t: ExecutionContext, from: string, to: string): Promise<string> {
  const source = await readFile(RUNNER_PATH, 'utf8');
  t.true(source.includes(from), `runner.py no longer holds ${JSON.stringify(from)}: update this test's drift`);
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-drifted-runner-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'runner.py');
  await writeFile(path, source.replace(from, to));
  return path;
}

test('runner.py and python-runner.ts agree: one job in, the ready line, then a report the agent reads whole', async (t) => {
  const { response, result } = await roundTrip(t, RUNNER_PATH);
  t.like(response, { status: 'ok', exitCode: 0, stdout: 'out\n', error: null });
  t.deepEqual(JSON.parse(result), { sum: 6 });
});

test('a runner whose report has a line too many -> the same round trip fails (ProtocolError)', async (t) => {
  const path = await drifted(t, '"value": [', '"value": [b"{}\\n", ');
  const { response } = await roundTrip(t, path);
  t.not(response.status, 'ok');
  t.is(response.error?.type, 'ProtocolError');
});
