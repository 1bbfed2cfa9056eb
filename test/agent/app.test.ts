import test from 'ava';
import { tmpdir } from 'node:os';
import { PythonRunner } from '../../agent/python-runner.js';
import { RUNNER_PATH, runJob, startAgent, job, postJob } from '../helpers/agent.js';

test('hello world -> ok, stdout and result apart', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'result = {"total": sum(data["xs"])}\nprint("hi")', data: { xs: [1, 2, 3] } });
  t.is(r.statusCode, 200);
  t.like(r, { status: 'ok', stdout: 'hi\n', stderr: '', exitCode: 0, signal: null, timedOut: false, memoryExceeded: false, outputTruncated: false, error: null });
  t.deepEqual(r.result, { total: 6 });
  t.true(r.durationMs >= 0);
});

test('a second job on the same agent -> 409, and the first one still ran once', async (t) => {
  const app = await startAgent(t);
  const first = await runJob(app, { code: 'print("once")' });
  t.is(first.stdout, 'once\n');
  const second = await postJob(app, job({ code: 'print("twice")' }));
  t.is(second.statusCode, 409);
  t.is(second.json().code, 'AGENT_ERR_JOB_TAKEN');
});

test('unknown field in the request -> 400 before anything runs', async (t) => {
  const app = await startAgent(t);
  const response = await postJob(app, { ...job({ code: 'print(1)' }), extra: 1 });
  t.is(response.statusCode, 400);
  const health = await app.inject({ method: 'GET', url: '/health' });
  t.is(health.json().status, 'ready');
});

test('uncaught exception -> error with type, message and traceback of the program only', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'def f():\n    return 1 / 0\nprint("before")\nf()' });
  t.is(r.status, 'error');
  t.is(r.exitCode, 1);
  t.is(r.stdout, 'before\n');
  t.is(r.error?.type, 'ZeroDivisionError');
  t.is(r.error?.message, 'division by zero');
  t.regex(r.error?.traceback ?? '', /main\.py", line 4, in <module>\n\s+f\(\)/);
  t.regex(r.error?.traceback ?? '', /line 2, in f\n\s+return 1 \/ 0/);
  t.notRegex(r.error?.traceback ?? '', /runner\.py/);
  t.true(r.stderr.endsWith('ZeroDivisionError: division by zero\n'));
});

test('syntax error -> error SyntaxError', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'def (' });
  t.is(r.status, 'error');
  t.is(r.error?.type, 'SyntaxError');
});

test('result that is not JSON-serialisable -> error ResultError that says so', async (t) => {
  const app = await startAgent(t);
  for (const code of ['result = {1, 2}', 'result = float("nan")', 'result = []\nresult.append(result)']) {
    const fresh = code === 'result = {1, 2}' ? app : await startAgent(t);
    const r = await runJob(fresh, { code });
    t.is(r.status, 'error', code);
    t.is(r.error?.type, 'ResultError', code);
    t.regex(r.error?.message ?? '', /not JSON-serialisable/, code);
    t.is(r.result, null);
  }
});

test('print and os.write to stdout and stderr cannot reach the result', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, {
    code: 'import os, sys, subprocess\nprint("{\\"result\\": 1}")\nos.write(1, b"raw\\n")\nos.write(2, b"err\\n")\n'
      + 'subprocess.run(["python3", "-c", "print(\'child\')"])\nresult = "real"',
  });
  t.is(r.status, 'ok', JSON.stringify(r));
  t.is(r.result, 'real');
  t.is(r.stdout, '{"result": 1}\nraw\nchild\n');
  t.is(r.stderr, 'err\n');
});

test('stdin is the job\'s, and input() past its end raises EOFError', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'result = [input(), input()]\ninput()', stdin: 'a\nb\n' });
  t.deepEqual(r.result, ['a', 'b']);
  t.is(r.error?.type, 'EOFError');
});

test('sys.exit(3) -> error with exit code 3 and the result kept', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'import sys\nresult = 7\nsys.exit(3)' });
  t.like(r, { status: 'error', exitCode: 3, error: null, result: 7 });
});

test('infinite loop -> timeout, with output printed before it kept', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'print("started")\nwhile True: pass', timeoutMs: 300 });
  t.like(r, { status: 'timeout', timedOut: true, stdout: 'started\n', signal: 'SIGKILL', exitCode: null });
});

test('output past maxOutputBytes, not stopping -> capped and flagged, a split character dropped whole', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'import sys\nsys.stdout.write("é" * 100)\nsys.stderr.write("x" * 10)', maxOutputBytes: 9, stopOnOutputLimit: false });
  t.is(r.stdout, 'éééé');
  t.is(r.stderr, 'xxxxxxxxx');
  t.true(r.outputTruncated);
  t.is(r.status, 'ok');
});

test('output past maxOutputBytes, stopping -> the program is killed there: output, SIGKILL', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'import sys\nsys.stdout.write("é" * 100)\nwhile True: pass', maxOutputBytes: 9, timeoutMs: 600_000 });
  t.like(r, { status: 'output', stdout: 'éééé', outputTruncated: true, timedOut: false, signal: 'SIGKILL', exitCode: null });
});

test('a multi-byte character split across writes decodes whole; invalid UTF-8 becomes U+FFFD', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'import os\nb = "€".encode()\nos.write(1, b[:1])\nos.write(1, b[1:])\nos.write(1, b"\\xff!")' });
  t.is(r.stdout, '€\uFFFD!');
});

test('data and result round-trip nested and unicode values, and lone surrogates', async (t) => {
  const app = await startAgent(t);
  const data = { a: [1, 2.5, null, true, { b: 'ünïcødé 🎉' }], big: 'x'.repeat(1_000_000) };
  const r = await runJob(app, { code: 'result = {"same": data, "len": len(data["big"]), "s": "\\ud800"}', data });
  t.deepEqual(r.result, { same: data, len: 1_000_000, s: '\ud800' });
});

test('writing to the result channel -> ProtocolError, not a forged result', async (t) => {
  const app = await startAgent(t);
  const r = await runJob(app, { code: 'import os\nos.write(4, b"null\\n\\"forged\\"\\n")\nresult = "real"' });
  t.is(r.status, 'error');
  t.is(r.error?.type, 'ProtocolError');
});

test('no interpreter at pythonPath -> the runner rejects saying why; nothing is thrown at the agent', async (t) => {
  // Before the fix, python-shell re-emitted the spawn error with no listener: an uncaught
  // exception, which ava reports as a failure of its own.
  const error = await t.throwsAsync(PythonRunner.start({ pythonPath: '/nonexistent/python3', runnerPath: RUNNER_PATH, cwd: tmpdir(), returnedFilesDir: tmpdir() }));
  t.regex(error!.message, /could not be started: spawn \/nonexistent\/python3 ENOENT/);
});
