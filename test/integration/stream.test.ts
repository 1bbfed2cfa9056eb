/**
 * Live output and interactive stdin, against real Docker: what a web IDE needs. No test
 * waits on a clock: each waits for the output it reacts to, as a user at the keyboard would.
 */
import { PassThrough } from 'node:stream';
import test from 'ava';
import { Sandbox } from '../helpers/sandbox.js';

const sandbox = new Sandbox({ poolSize: 2, queueTimeoutMs: 600_000 });
test.before(() => sandbox.initialize());
test.after.always(() => sandbox.close());

/** Resolves with the text heard so far once it includes `text`. */
function waitFor(heard: { text: string; changed: PassThrough }, text: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!heard.text.includes(text)) return;
      heard.changed.off('data', check);
      resolve();
    };
    heard.changed.on('data', check);
    check();
  });
}

function listener() {
  const heard = { text: '', changed: new PassThrough({ objectMode: true }) };
  return { heard, on: (chunk: string) => { heard.text += chunk; heard.changed.write(chunk); } };
}

test('output reaches onStdout while the program runs: it waits for an answer to what it printed', async (t) => {
  const stdin = new PassThrough();
  const out = listener();
  const running = sandbox.run({ code: 'print("question?")\nanswer = input()\nprint("got", answer)', stdin, timeoutMs: 30_000 }, { onStdout: out.on });
  // The program blocks in input() until this answer: the prompt can only have come live.
  await waitFor(out.heard, 'question?\n');
  stdin.end('yes\n');
  const r = await running;
  t.like(r, { status: 'ok', stdout: 'question?\ngot yes\n' });
  t.is(out.heard.text, r.stdout);
});

test('an interactive session: several input() answered one at a time, then end-of-file', async (t) => {
  const stdin = new PassThrough();
  const out = listener();
  const err = listener();
  const running = sandbox.run(
    {
      code: `
import sys
total = 0
while True:
    try:
        line = input("number> ")
    except EOFError:
        break
    total += int(line)
    print("total", total, file=sys.stderr, flush=True)
result = total`,
      stdin,
      timeoutMs: 30_000,
    },
    { onStdout: out.on, onStderr: err.on },
  );
  for (const [index, n] of [3, 4, 5].entries()) {
    await waitFor(out.heard, 'number> '.repeat(index + 1));
    stdin.write(`${n}\n`);
  }
  await waitFor(err.heard, 'total 12\n');
  stdin.end();
  const r = await running;
  t.like(r, { status: 'ok', result: 12, stderr: 'total 3\ntotal 7\ntotal 12\n' });
  t.is(out.heard.text, r.stdout);
  t.is(err.heard.text, r.stderr);
});

test('stdin as an async generator -> each piece reaches the program as it is yielded', async (t) => {
  async function* lines() {
    yield 'a\n';
    yield Buffer.from('b\n');
    yield new Uint8Array([0x63, 0x0a]);
  }
  const r = await sandbox.run({ code: 'import sys\nresult = sys.stdin.read().split()', stdin: lines() });
  t.deepEqual(r.result, ['a', 'b', 'c']);
});

test('a stdin stream never closed -> the program waits within its limits: timeout', async (t) => {
  const r = await sandbox.run({ code: 'input()', stdin: new PassThrough(), timeoutMs: 500 });
  t.like(r, { status: 'timeout', timedOut: true });
});

test('live chunks: a character split across writes arrives whole, and they stop at maxOutputBytes like the result', async (t) => {
  const capped = new Sandbox({ poolSize: 1, maxOutputBytes: 10, stopOnOutputLimit: false });
  t.teardown(() => capped.close());
  await capped.initialize();
  const out = listener();
  const r = await capped.run({ code: 'import os\ne = "é".encode()\nos.write(1, e[:1])\nos.write(1, e[1:])\nos.write(1, b"0123456789abcdef")' }, { onStdout: out.on });
  t.like(r, { status: 'ok', outputTruncated: true });
  t.is(r.stdout, 'é01234567');
  t.is(out.heard.text, r.stdout);
});

test('abort while the program waits for input -> AbortError; the pool goes on', async (t) => {
  const controller = new AbortController();
  const out = listener();
  const running = sandbox.run({ code: 'print("waiting", flush=True)\ninput()', stdin: new PassThrough(), signal: controller.signal, timeoutMs: 30_000 }, { onStdout: out.on });
  await waitFor(out.heard, 'waiting');
  controller.abort(new Error('user left'));
  await t.throwsAsync(running, { code: 'WARMBOX_ERR_ABORTED' });
  t.like(await sandbox.run('result = 1'), { status: 'ok', result: 1 });
});

test('listeners that are not functions, stdin that is not a stream -> InvalidArgumentError naming them', async (t) => {
  await t.throwsAsync(sandbox.run('print(1)', { onStdout: 'yes' as never }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /options.onStdout/ });
  await t.throwsAsync(sandbox.run({ code: '', stdin: 42 as never }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job.stdin/ });
});

test('neither listeners nor a stdin stream -> the plain reply, the same result', async (t) => {
  const stdin = new PassThrough();
  stdin.end('x\n');
  const [plain, live] = await Promise.all([
    sandbox.run({ code: 'print(input() * 2)', stdin: 'x\n' }),
    sandbox.run({ code: 'print(input() * 2)', stdin }, { onStdout: () => {} }),
  ]);
  const { durationMs: _a, ...a } = plain;
  const { durationMs: _b, ...b } = live;
  t.deepEqual(a, b);
});
