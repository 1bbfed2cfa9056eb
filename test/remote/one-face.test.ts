/**
 * One face, two sandboxes: the same suite, unchanged, against a local Sandbox and a
 * RemoteSandbox over a real `warmbox serve` on loopback, both taken as a PythonSandbox. A
 * program written against one runs against the other: one-shot jobs, live output and stdin,
 * sessions and their events, errors by class with the same fields, initialize, stats, close
 * and destroy.
 */
import { createServer } from 'node:http';
import { PassThrough } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { AbortError, InvalidArgumentError, PoolClosedError, Sandbox, SessionEndedError, type PythonSandbox, type SandboxEvents, type SandboxOptions } from '../../pool/index.js';
import { RemoteSandbox } from '../../remote/remote-sandbox.js';
import { serve } from '../../service/serve.js';
import { onLoopback } from '../helpers/loopback.js';

type Face = 'local' | 'remote';

// A server on this machine's loopback, which jobs reach under a name the sandbox pins to it.
let apiPort: number;
const closers: Array<() => void> = [];
test.before(async () => {
  const server = createServer((request, response) => response.end(`hello from ${request.headers.host}`));
  apiPort = await onLoopback(server, (close) => closers.push(close));
});
test.after.always(() => {
  for (const close of closers) close();
});
const FACES: readonly Face[] = ['local', 'remote'];

/** The next `event` of `sandbox`, with its arguments. */
function next<E extends keyof SandboxEvents>(sandbox: PythonSandbox, event: E): Promise<SandboxEvents[E]> {
  return new Promise((resolve) => sandbox.once(event, ((...args: SandboxEvents[E]) => resolve(args)) as never));
}

/** A started sandbox of the face, its pool made with `options`, closed when the test ends. */
async function open(t: ExecutionContext, face: Face, options: SandboxOptions = {}): Promise<PythonSandbox> {
  const pool = { poolSize: 1, ...options };
  let sandbox: PythonSandbox;
  if (face === 'local') {
    sandbox = new Sandbox(pool);
  } else {
    const token = 'one-face';
    const service = await serve({ host: '127.0.0.1', port: 0, token, sandbox: pool, logger: false });
    t.teardown(() => service.stop());
    sandbox = new RemoteSandbox({ url: service.address, token });
  }
  t.teardown(() => sandbox.close());
  await sandbox.initialize();
  return sandbox;
}

for (const face of FACES) {
  test(`${face}: initialize, then a one-shot job with data and files -> its result; stats() as numbers`, async (t) => {
    const sandbox = await open(t, face);
    const r = await sandbox.run({ code: 'print("hi")\nresult = sum(data) + len(open("in.bin", "rb").read())', data: [1, 2], files: { 'in.bin': new Uint8Array([9, 9]) } });
    t.like(r, { status: 'ok', stdout: 'hi\n', result: 5, isError: false, error: null, exitCode: 0 });
    const stats = await sandbox.stats();
    const { targetReason, ...counts } = stats;
    t.deepEqual(Object.keys(counts).sort(), ['busy', 'queued', 'sessions', 'starting', 'target', 'warm']);
    t.true(Object.values(counts).every((n) => Number.isInteger(n) && n >= 0));
    t.is(targetReason, 'minimum');
  });

  test(`${face}: a job with network reaches what it asked for within the ceiling, and says what it reached; past the ceiling -> InvalidArgumentError`, async (t) => {
    const sandbox = await open(t, face, { network: { allow: [`api.test:${apiPort}`, `other.test:${apiPort}`], resolve: { 'api.test': '127.0.0.1', 'other.test': '127.0.0.1' } } });
    const r = await sandbox.run({
      code: `import urllib.request, urllib.error
result = [urllib.request.urlopen("http://api.test:${apiPort}/").read().decode()]
try:
    urllib.request.urlopen("http://other.test:${apiPort}/")
except urllib.error.HTTPError as e:
    result.append(e.code)`,
      network: { allow: [`api.test:${apiPort}`] },
    });
    t.deepEqual(r.result, [`hello from api.test:${apiPort}`, 403]);
    t.like(r.egress, [{ host: 'api.test', allowed: true }, { host: 'other.test', allowed: false, reason: 'not-allowed' }]);
    const error = await t.throwsAsync(sandbox.run({ code: '', network: { allow: ['evil.example'] } }), { instanceOf: InvalidArgumentError });
    t.is(error?.field, 'job.network.allow[0]');
  });

  test(`${face}: live output and a stdin stream -> heard as written, answered mid-run`, async (t) => {
    const sandbox = await open(t, face);
    const stdin = new PassThrough();
    const heard: string[] = [];
    const r = await sandbox.run(
      { code: 'name = input("name? ")\nprint("hello", name)\nresult = name', stdin },
      {
        onStdout: (chunk) => {
          heard.push(chunk);
          if (heard.join('').includes('name? ')) stdin.end('Ada\n');
        },
      },
    );
    t.like(r, { status: 'ok', result: 'Ada', stdout: 'name? hello Ada\n' });
    t.is(heard.join(''), 'name? hello Ada\n');
  });

  test(`${face}: a program that fails is a result, the same one: error, timeout, memory`, async (t) => {
    const sandbox = await open(t, face, { poolSize: 2 });
    const raised = await sandbox.run('1 / 0');
    t.like(raised, { status: 'error', isError: true, error: { type: 'ZeroDivisionError' } });
    t.like(await sandbox.run({ code: 'while True: pass', timeoutMs: 300 }), { status: 'timeout', timedOut: true });
    t.like(await sandbox.run('x = bytearray(512 * 1024 * 1024)'), { status: 'memory', memoryExceeded: true });
  });

  test(`${face}: a wrong job -> InvalidArgumentError naming the same field; an abort -> AbortError`, async (t) => {
    const sandbox = await open(t, face);
    for (const [job, field] of [
      [{ code: 1 }, 'job.code'],
      [{ code: '', timeoutMs: 0 }, 'job.timeoutMs'],
      [{ code: '', files: { '/etc/passwd': 'x' } }, 'job.files["/etc/passwd"]'],
    ] as const) {
      const error = await t.throwsAsync(sandbox.run(job as never), { instanceOf: InvalidArgumentError });
      t.is(error?.field, field);
    }
    const controller = new AbortController();
    const running = sandbox.run({ code: 'import time\nprint("go", flush=True)\ntime.sleep(30)', signal: controller.signal }, { onStdout: () => controller.abort(new Error('enough')) });
    await t.throwsAsync(running, { instanceOf: AbortError });
  });

  test(`${face}: a session keeps state across cells, shows values, and reports its end as an event and a SessionEndedError`, async (t) => {
    const sandbox = await open(t, face);
    const opened = next(sandbox, 'sessionOpened');
    const session = await sandbox.session();
    t.deepEqual(await opened, [session.id]);
    t.like(await session.run('import math\nx = 6'), { status: 'ok' });
    const cell = await session.run('x * 7');
    t.like(cell, { status: 'ok', sessionEnded: false, value: { repr: '42', json: 42 } });
    const ended = next(sandbox, 'sessionEnded');
    await session.close();
    t.deepEqual(await ended, [session.id, 'closed']);
    const error = await t.throwsAsync(session.run('x'), { instanceOf: SessionEndedError });
    t.is(error?.reason, 'closed');
  });

  test(`${face}: a cell that exits ends its session -> sessionEnded with 'exit', the next cell SessionEndedError`, async (t) => {
    const sandbox = await open(t, face);
    const session = await sandbox.session();
    const ended = next(sandbox, 'sessionEnded');
    t.like(await session.run('import sys\nsys.exit(3)'), { sessionEnded: true, exitCode: 3 });
    t.deepEqual(await ended, [session.id, 'exit']);
    await t.throwsAsync(session.run('1'), { instanceOf: SessionEndedError });
  });

  test(`${face}: destroy() -> the running job rejects with PoolClosedError, and so does every run after`, async (t) => {
    const sandbox = await open(t, face);
    const running = sandbox.run({ code: 'import time\nprint("go", flush=True)\ntime.sleep(30)' }, { onStdout: () => void sandbox.destroy() });
    await t.throwsAsync(running, { instanceOf: PoolClosedError });
    await t.throwsAsync(sandbox.run('1'), { instanceOf: PoolClosedError });
  });

  test(`${face}: close() waits for the job in flight, then takes no more`, async (t) => {
    const sandbox = await open(t, face);
    let closing: Promise<void> | undefined;
    // Closed once the job has started: its first output says so.
    const running = sandbox.run({ code: 'import time\nprint("go", flush=True)\ntime.sleep(0.3)\nresult = "finished"' }, { onStdout: () => void (closing ??= sandbox.close()) });
    t.like(await running, { status: 'ok', result: 'finished' });
    t.not(closing, undefined);
    await t.throwsAsync(sandbox.run('1'), { instanceOf: PoolClosedError });
    await closing;
  });
}
