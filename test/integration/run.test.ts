import test from 'ava';
import type { RunResult } from '../../pool/index.js';
import { openSandbox, Sandbox } from '../helpers/sandbox.js';

test('hello world -> ok with stdout, result and every field', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run({
    code: 'result = {"total": sum(data["xs"])}\nprint("hi")',
    data: { xs: [1, 2, 3] },
    timeoutMs: 2000,
  });
  const { durationMs, ...rest } = r;
  t.deepEqual(rest, {
    status: 'ok',
    stdout: 'hi\n',
    stderr: '',
    result: { total: 6 },
    exitCode: 0,
    signal: null,
    timedOut: false,
    cpuTimeExceeded: false,
    memoryExceeded: false,
    outputTruncated: false,
    error: null,
    files: [],
    filesTruncated: false,
    figures: [],
    isError: false,
    egress: [],
  });
  t.true(durationMs > 0);
});

test('data round trip: nested, unicode and large values come back equal', async (t) => {
  const sandbox = await openSandbox(t);
  const data = {
    nested: { a: [1, [2, [3, [4, { deep: true }]]]], n: null, f: 1.5, neg: -7 },
    unicode: 'zażółć gęślą jaźń — 日本語 — 🎉',
    large: Array.from({ length: 50_000 }, (_, i) => ({ i, s: `item ${i}` })),
  };
  const r = await sandbox.run({ code: 'result = data', data });
  t.is(r.status, 'ok');
  t.deepEqual(r.result, data);
});

test('print() next to result: neither corrupts the other', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run({
    code: 'import json, os\nprint(json.dumps({"result": "fake"}))\nos.write(1, b"\\n}{\\n")\nresult = [1, "two"]',
  });
  t.is(r.stdout, '{"result": "fake"}\n\n}{\n');
  t.deepEqual(r.result, [1, 'two']);
});

test('stdin reaches input() and sys.stdin', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run({ code: 'import sys\nfirst = input()\nresult = [first, sys.stdin.read()]', stdin: 'line one\nrest\nof it' });
  t.deepEqual(r.result, ['line one', 'rest\nof it']);
});

test('uncaught exception -> error with type, message, traceback; stderr has the traceback', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run('def f(d):\n    return d["missing"]\nf({})');
  t.is(r.status, 'error');
  t.true(r.isError);
  t.is(r.exitCode, 1);
  t.is(r.error?.type, 'KeyError');
  t.is(r.error?.message, "'missing'");
  t.regex(r.error?.traceback ?? '', /main\.py", line 2, in f/);
  t.true(r.stderr.includes('KeyError'));
});

test('a code string is a job', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run('print(6 * 7)');
  t.is(r.stdout, '42\n');
});

test('callbacks: initialize(cb), run(job, cb), cleanup(cb) as in docker-python-sandbox', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1 });
  const result = await new Promise<RunResult>((resolve, reject) => {
    sandbox.initialize((error) => {
      if (error) return reject(error);
      sandbox.run({ code: 'print("cb")', timeoutMs: 2000 }, (runError, r) => (runError ? reject(runError) : resolve(r!)));
    });
  });
  t.is(result.stdout, 'cb\n');
  await new Promise<void>((resolve, reject) => sandbox.cleanup((error) => (error ? reject(error) : resolve())));
  await t.throwsAsync(sandbox.run('print(1)'), { code: 'WARMBOX_ERR_POOL_CLOSED' });
});

test('each job runs in a fresh container: nothing one job leaves is seen by the next', async (t) => {
  const sandbox = await openSandbox(t);
  const first = await sandbox.run('import os\nopen("/work/left", "w").write("x")\nresult = os.uname().nodename');
  const second = await sandbox.run('import os\nresult = [os.path.exists("/work/left"), os.uname().nodename]');
  t.is(first.status, 'ok');
  t.deepEqual(second.result, [false, second.result && (second.result as [boolean, string])[1]]);
  t.not((second.result as [boolean, string])[1], first.result);
});
