/**
 * Sessions on real Docker and the real image: one container held for one conversation,
 * its cells run in one interpreter, and everything it held gone once it ends.
 */
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { InvalidArgumentError, QueueTimeoutError, SessionEndedError, type Session } from '../../pool/index.js';
import { containersOf, GVISOR, openSandbox } from '../helpers/sandbox.js';

/** Resolves with the first output of a cell that `run` starts: the cell is then running. */
function started(run: (onStdout: () => void) => Promise<unknown>): { running: Promise<void>; result: Promise<unknown> } {
  let resolve!: () => void;
  const running = new Promise<void>((r) => (resolve = r));
  return { running, result: run(() => resolve()) };
}

test('state carries across cells: variables, an import, a function, a file; each cell shows its value', async (t) => {
  const sandbox = await openSandbox(t);
  await using s = await sandbox.session({ files: { 'in.txt': 'from the session' } });
  t.like(await s.run('x = 41\nimport json\ndef twice(n):\n    return 2 * n'), { status: 'ok', value: null, sessionEnded: false });
  t.like(await s.run('x + 1'), { status: 'ok', value: { repr: '42', json: 42 } });
  t.like(await s.run('json.dumps({"a": twice(x)})'), { value: { json: '{"a": 82}' } });
  t.like(await s.run('open("out.txt", "w").write(open("in.txt").read())'), { status: 'ok' });
  t.like(await s.run('open("out.txt").read()'), { value: { json: 'from the session', repr: "'from the session'" } });
  t.like(await s.run('None'), { value: null });
  const printed = await s.run('print("hello")\nresult = {"n": x}', { onStdout: () => {} });
  t.like(printed, { stdout: 'hello\n', result: { n: 41 }, exitCode: null, isError: false });
  const made = await s.run('open("made.csv", "w").write("n\\n1\\n")', { returnFiles: ['*.csv', '*.txt'] });
  t.deepEqual(made.files.map((f) => [f.path, f.data.toString()]), [['made.csv', 'n\n1\n']], "only this cell's file: not in.txt or out.txt");
  t.is(s.cells, 8);
  t.like(sandbox.stats(), { sessions: 1 });
});

test('a thread started in one cell runs on in the next, and is the same thread', async (t) => {
  const sandbox = await openSandbox(t);
  await using s = await sandbox.session();
  await s.run('import threading, queue\nasks, answers = queue.Queue(), queue.Queue()\ndef serve():\n    while True:\n        answers.put(asks.get() * 2)\nworker = threading.Thread(target=serve, daemon=True)\nworker.start()');
  t.like(await s.run('asks.put(21)\nanswers.get(timeout=5)'), { value: { json: 42 } });
  t.like(await s.run('worker.is_alive(), threading.active_count()'), { value: { json: [true, 2] } });
});

test('a cell that raises -> error, and the next cell still sees the state', async (t) => {
  const sandbox = await openSandbox(t);
  await using s = await sandbox.session();
  await s.run('n = 1');
  t.like(await s.run('n = 2\nraise ValueError("no")'), { status: 'error', error: { type: 'ValueError', message: 'no' }, sessionEnded: false });
  t.like(await s.run('n'), { value: { json: 2 } });
});

test('interrupt -> KeyboardInterrupt in the running cell; the session keeps its state', async (t) => {
  const sandbox = await openSandbox(t);
  await using s = await sandbox.session();
  await s.run('kept = [1, 2, 3]');
  const cell = started((onStdout) => s.run('import time\nprint("go", flush=True)\nwhile True:\n    time.sleep(0.01)', { onStdout }));
  await cell.running;
  await s.interrupt();
  t.like(await cell.result, { status: 'error', error: { type: 'KeyboardInterrupt' }, sessionEnded: false });
  t.like(await s.run('sum(kept)'), { value: { json: 6 } });
});

test('an abort of a cell interrupts it: run() rejects with AbortError, and the session goes on', async (t) => {
  const sandbox = await openSandbox(t);
  await using s = await sandbox.session();
  const controller = new AbortController();
  const cell = started((onStdout) => s.run('import time\nprint("go", flush=True)\ntime.sleep(60)', { onStdout, signal: controller.signal }));
  await cell.running;
  controller.abort();
  await t.throwsAsync(cell.result, { code: 'WARMBOX_ERR_ABORTED' });
  t.like(await s.run('1 + 1'), { value: { json: 2 } });
});

test('a cell past its timeout is interrupted and the session survives; one that ignores it ends the session: timeout, then SessionEndedError', async (t) => {
  const sandbox = await openSandbox(t);
  const s = await sandbox.session({ timeoutMs: 300, cpuTimeMs: 60_000 });
  await s.run('kept = 1');
  t.like(await s.run('import time\ntime.sleep(60)'), { status: 'timeout', timedOut: true, sessionEnded: false, error: { type: 'KeyboardInterrupt' } });
  t.like(await s.run('kept'), { value: { json: 1 } });
  const stubborn = await s.run('import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)');
  t.like(stubborn, { status: 'timeout', timedOut: true, sessionEnded: true });
  const after = await t.throwsAsync(s.run('kept'), { instanceOf: SessionEndedError });
  t.is(after.reason, 'timeout');
  t.is(s.endReason, 'timeout');
});

test('a memory kill ends the session with status memory', async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 64 });
  const s = await sandbox.session();
  await s.run('x = 1');
  const r = await s.run('blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))', { cpuTimeMs: 60_000, timeoutMs: 60_000 });
  t.like(r, { status: 'memory', memoryExceeded: true, sessionEnded: true });
  const after = await t.throwsAsync(s.run('x'), { instanceOf: SessionEndedError });
  t.is(after.reason, 'memory');
});

test('sys.exit in a cell ends the session with its exit code; os._exit too', async (t) => {
  const sandbox = await openSandbox(t);
  const s = await sandbox.session();
  t.like(await s.run('import sys\nsys.exit(4)'), { status: 'error', exitCode: 4, sessionEnded: true });
  t.like(await t.throwsAsync(s.run('1'), { instanceOf: SessionEndedError }), { reason: 'exit' });
  const other = await sandbox.session();
  t.like(await other.run('import os\nos._exit(0)'), { exitCode: 0, sessionEnded: true });
  t.is(other.endReason, 'exit');
});

test('an idle session is closed at idleTimeoutMs, and its container removed', async (t) => {
  const sandbox = await openSandbox(t);
  const s = await sandbox.session({ idleTimeoutMs: 200 });
  await s.run('x = 1');
  const [id, reason] = await once(sandbox, 'sessionEnded');
  t.is(id, s.id);
  t.is(reason, 'idle');
  t.like(await t.throwsAsync(s.run('x'), { instanceOf: SessionEndedError }), { reason: 'idle' });
  t.like(sandbox.stats(), { sessions: 0 });
});

test('maxSessions: a session past it waits in the queue while one-shot jobs are still served, and opens when one closes', async (t) => {
  const sandbox = await openSandbox(t, { maxSessions: 1, poolSize: 1 });
  const first = await sandbox.session();
  const second = sandbox.session();
  t.like(await sandbox.run('result = 7'), { status: 'ok', result: 7 });
  t.like(sandbox.stats(), { sessions: 1, queued: 1 });
  await first.close();
  await using opened = await second;
  t.like(await opened.run('3 * 3'), { value: { json: 9 } });
  const timedOut = await openSandbox(t, { maxSessions: 1, queueTimeoutMs: 200 });
  await using held = await timedOut.session();
  await t.throwsAsync(timedOut.session(), { instanceOf: QueueTimeoutError });
  t.like(await held.run('1'), { value: { json: 1 } });
});

test('bad session and cell options -> InvalidArgumentError naming the field, before any container is used', async (t) => {
  const sandbox = await openSandbox(t);
  await t.throwsAsync(sandbox.session({ idleTimeoutMs: -1 }), { instanceOf: InvalidArgumentError, message: /options.idleTimeoutMs/ });
  await t.throwsAsync(sandbox.session({ preload: ['not a module'] } as never), { instanceOf: InvalidArgumentError, message: /options.preload\[0\]/ });
  await t.throwsAsync(sandbox.session({ colour: 'red' } as never), { instanceOf: InvalidArgumentError, message: /options.colour/ });
  t.like(sandbox.stats(), { sessions: 0 });
  await using s = await sandbox.session();
  await t.throwsAsync(s.run(42 as never), { instanceOf: InvalidArgumentError, message: /^code/ });
  await t.throwsAsync(s.run('1', { timeoutMs: 0 }), { instanceOf: InvalidArgumentError, message: /timeoutMs/ });
  t.like(await s.run('1'), { value: { json: 1 } });
});

test('a preload module that cannot be imported -> session() rejects and holds nothing', async (t) => {
  const sandbox = await openSandbox(t);
  await t.throwsAsync(sandbox.session({ preload: ['no_such_module_here'] }), { instanceOf: SessionEndedError, message: /no_such_module_here/ });
  t.like(sandbox.stats(), { sessions: 0 });
});

test('sandbox.close() with sessions open -> they end, and no container or directory is left', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2 });
  const sessions = [await sandbox.session(), await sandbox.session()];
  await sessions[0]!.run('x = 1');
  await sandbox.close();
  for (const s of sessions) t.is(s.endReason, 'closed');
  t.deepEqual(await containersOf(sandbox), []);
});

test('sandbox.destroy() with a cell running -> the cell rejects, the session ends, nothing is left', async (t) => {
  const sandbox = await openSandbox(t);
  const s = await sandbox.session();
  const cell = started((onStdout) => s.run('import time\nprint("go", flush=True)\ntime.sleep(60)', { onStdout }));
  await cell.running;
  await sandbox.destroy();
  await t.throwsAsync(cell.result, { instanceOf: SessionEndedError });
  t.is(s.endReason, 'sandboxClosed');
  t.deepEqual(await containersOf(sandbox), []);
});

// Serial: this process's file descriptors are counted, and no other test of the file may open
// or close any meanwhile (ava runs serial tests alone, before the others).
test.serial('200 sessions opened and closed -> no container, directory or file descriptor left', async (t) => {
  const count = GVISOR ? 20 : 200;
  const socketRoot = await mkdtemp(join(tmpdir(), 'warmbox-sessions-'));
  t.teardown(() => rm(socketRoot, { recursive: true, force: true }));
  const sandbox = await openSandbox(t, { poolSize: 2, maxSessions: 4, socketRoot });
  // Counted after a first session and a first look at the engine, so that what is opened once
  // and kept (the engine's keep-alive connections, this file's own) is in both counts, and
  // what the count can find is what sessions leave.
  await (await sandbox.session()).close();
  await containersOf(sandbox);
  const fdsBefore = (await readdir('/proc/self/fd')).length;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const s: Session = await sandbox.session();
      const r = await s.run('1 + 1');
      if (r.value?.json !== 2) throw new Error(`a session answered ${JSON.stringify(r)}`);
      await s.close();
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  t.like(sandbox.stats(), { sessions: 0 });
  // The pool directory holds its owner file and the io directories of the pool's own two containers, no session's.
  const [poolDir] = await readdir(socketRoot);
  t.is((await readdir(join(socketRoot, poolDir!))).filter((name) => name.startsWith('c')).length, 2);
  await sandbox.close();
  t.deepEqual(await containersOf(sandbox), []);
  t.deepEqual(await readdir(socketRoot), [], 'no directory is left');
  t.true((await readdir('/proc/self/fd')).length <= fdsBefore, 'no file descriptor is left open');
});
