/**
 * A session in the agent, against this machine's real python3: a job that opens one, then
 * cells in the same interpreter, their values, interrupts and endings.
 */
import test from 'ava';
import { cell, job, runCell, runJob, startAgent, startRunner, withOutput } from '../helpers/agent.js';

test('a session: globals, imports and functions carry from cell to cell, and each cell shows its last value', async (t) => {
  const app = await startAgent(t);
  const opened = await runJob(app, { session: true, code: 'x = 40' });
  t.like(opened, { status: 'ok', sessionEnded: false, value: null });
  const second = await runCell(app, { code: 'import math\nprint("hi")\nx + 2' });
  t.like(second, { status: 'ok', stdout: 'hi\n', exitCode: null, sessionEnded: false, value: { repr: '42', json: 42 } });
  const third = await runCell(app, { code: 'def f(n):\n    return math.sqrt(n)\n"s" * 2' });
  t.deepEqual(third.value, { repr: "'ss'", json: 'ss' });
  t.like(await runCell(app, { code: 'f(x + 9)' }), { value: { json: 7 } });
  t.like(await runCell(app, { code: 'None' }), { status: 'ok', value: null });
  t.like(await runCell(app, { code: 'y = 1' }), { status: 'ok', value: null });
  t.like(await runCell(app, { code: '_' }), { value: { json: 7 } });
});

test('a cell that raises -> error, and the session goes on with its state', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true, code: 'n = 1' });
  const failed = await runCell(app, { code: 'n = 2\n1 / 0' });
  t.like(failed, { status: 'error', sessionEnded: false, error: { type: 'ZeroDivisionError' } });
  t.regex(failed.stderr, /ZeroDivisionError/);
  t.like(await runCell(app, { code: 'n' }), { status: 'ok', value: { json: 2 } });
  t.like(await runCell(app, { code: 'def (' }), { status: 'error', error: { type: 'SyntaxError' }, sessionEnded: false });
});

test('each cell gets its own stdin, and `data` when it brings some', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true, data: [1, 2] });
  t.like(await runCell(app, { code: 'import sys\ninput() + sys.stdin.read()', stdin: 'a\nb' }), { value: { json: 'ab' } });
  t.like(await runCell(app, { code: 'sum(data)' }), { value: { json: 3 } });
  t.like(await runCell(app, { code: 'sum(data)', data: [5] }), { value: { json: 5 } });
});

test('sys.exit in a cell ends the session with its exit code; a later cell gets 409', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true });
  t.like(await runCell(app, { code: 'import sys\nsys.exit(3)' }), { status: 'error', exitCode: 3, sessionEnded: true });
  await t.throwsAsync(runCell(app, { code: '1' }), { message: /answered 409.*no session is open/ });
  t.like((await app.inject({ method: 'GET', url: '/health' })).json(), { status: 'used' });
});

test('os._exit in a cell ends the session', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true });
  t.like(await runCell(app, { code: 'import os\nos._exit(0)' }), { exitCode: 0, sessionEnded: true });
});

test('interrupt -> the running cell ends in KeyboardInterrupt, and the session keeps its state', async (t) => {
  const runner = await startRunner(t);
  await runner.run(job({ session: true, code: 'kept = "yes"' }), [Buffer.from('null')], () => {});
  t.false(runner.interrupt(), 'between cells, there is nothing to interrupt');
  let started: () => void;
  const sleeping = new Promise<void>((resolve) => (started = resolve));
  const running = withOutput((onOutput) => runner.runCell(cell({ code: 'import time\nprint("sleeping", flush=True)\nwhile True:\n    time.sleep(0.01)' }), [Buffer.from('null')], onOutput), () => started());
  await sleeping;
  t.true(runner.interrupt());
  const { response } = await running;
  t.like(response, { status: 'error', error: { type: 'KeyboardInterrupt' }, sessionEnded: false, stdout: 'sleeping\n' });
  const after = await runner.runCell(cell({ code: 'kept' }), [Buffer.from('null')], () => {});
  t.like(after.report.value, { json: 'yes' });
});

test('a cell over its timeout is interrupted and the session survives; one that ignores the interrupt is killed, ending the session', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true, code: 'kept = 1' });
  const slow = await runCell(app, { code: 'import time\ntime.sleep(30)', timeoutMs: 200, cpuTimeMs: 60_000 });
  t.like(slow, { status: 'timeout', timedOut: true, sessionEnded: false, error: { type: 'KeyboardInterrupt' } });
  t.like(await runCell(app, { code: 'kept' }), { value: { json: 1 } });
  const stubborn = await runCell(app, {
    code: 'import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)',
    timeoutMs: 200,
    cpuTimeMs: 60_000,
  });
  t.like(stubborn, { status: 'timeout', timedOut: true, sessionEnded: true, signal: 'SIGKILL' });
});

test('a value that is not JSON comes as its repr; a class as its repr; a big int without json', async (t) => {
  const app = await startAgent(t);
  await runJob(app, { session: true });
  t.deepEqual((await runCell(app, { code: '{1, 2}' })).value, { repr: '{1, 2}' });
  t.deepEqual((await runCell(app, { code: '2 ** 64' })).value, { repr: '18446744073709551616' });
  t.deepEqual((await runCell(app, { code: 'class H:\n    def _repr_html_(self):\n        return "<b>h</b>"\n    def __repr__(self):\n        return "H()"\nH()' })).value, { repr: 'H()', html: '<b>h</b>' });
});

test("returnFiles in a session -> each cell brings back what it made or changed, not what earlier cells left", async (t) => {
  const app = await startAgent(t);
  const patterns = { patterns: ['*.txt'], maxFiles: 10, maxBytes: 1 << 20, timeoutMs: 2000 };
  await runJob(app, { session: true });
  t.deepEqual((await runCell(app, { code: 'open("a.txt", "w").write("a")', returnFiles: patterns })).files, [{ path: 'a.txt', size: 1 }]);
  t.deepEqual((await runCell(app, { code: 'open("b.txt", "w").write("bb")', returnFiles: patterns })).files, [{ path: 'b.txt', size: 2 }]);
  t.deepEqual((await runCell(app, { code: 'open("a.txt", "w").write("aaa")', returnFiles: patterns })).files, [{ path: 'a.txt', size: 3 }]);
  t.deepEqual((await runCell(app, { code: 'x = 1', returnFiles: { ...patterns, patterns: ['a.txt'] } })).files, [{ path: 'a.txt', size: 3 }], 'a file named exactly always comes back');
});
