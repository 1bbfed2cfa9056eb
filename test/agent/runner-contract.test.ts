/**
 * The contract between the agent's TypeScript side (agent/python-runner.ts, with the layout of
 * contract/layout.ts) and the real agent/runner.py, run by this machine's Debian python3: the job
 * goes in on the job channel, the ready line and the report's lines come back on the result
 * channel, and they agree. The same check is shown failing on a copy of runner.py whose
 * framing drifted: a report with a line too many.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { RUNNER_FDS, RUNNER_READY_LINE, runnerLayout } from '../../contract/layout.js';
import { REPORT_LINES } from '../../contract/report.js';
import { PythonRunner, RUNNER_STDIO } from '../../agent/python-runner.js';
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

test('after its report the runner holds nothing of the program open and stops itself: its output has ended though the program kept a copy of stdout', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'warmbox-contract-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  // The runner alone, its descriptors as the agent sets them up: stdin, stdout, and RUNNER_FDS.
  const child = spawn(PYTHON, ['-I', '-u', RUNNER_PATH, runnerLayout()], { stdio: RUNNER_STDIO, cwd, env: { HOME: cwd } });
  t.teardown(() => void child.kill('SIGKILL'));
  const pipes = child.stdio as unknown as Array<Readable & Writable>;
  const ended = once(pipes[1]!, 'end');
  pipes[1]!.resume();
  const results: Buffer[] = [];
  pipes[RUNNER_FDS.result]!.on('data', (chunk: Buffer) => results.push(chunk));
  const reported = once(pipes[RUNNER_FDS.result]!, 'end');
  const code = 'import os\nkeep = os.dup(1)\nos.write(keep, b"via the copy\\n")\nresult = 1';
  const head = Buffer.from(`{"code":${JSON.stringify(code)},"rlimits":{"fileSizeBytes":1048576,"openFiles":64,"stackBytes":8388608},"env":{},"files":[],"data":null}`);
  pipes[RUNNER_FDS.job]!.end(Buffer.concat([Buffer.from(`${head.length}\n`), head]));
  child.stdin!.end();

  // Without the copy closed, stdout would end only once the process does, which it does not.
  await ended;
  await reported;
  const report = Buffer.concat(results).toString('utf8').split('\n');
  t.is(report[0], RUNNER_READY_LINE.trimEnd());
  t.is(report.length, 1 + REPORT_LINES.length + 1, 'the ready line, the report, and nothing after its last newline');
  t.deepEqual(JSON.parse(report[REPORT_LINES.length]!), { exit: 0 });
  // Stopped (T), not ended: the agent ends it once it has answered.
  const state = () => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
  t.is(child.exitCode, null);
  while (state() !== 'T') await new Promise((resolve) => setImmediate(resolve));
  t.pass('the runner stopped itself');
});
