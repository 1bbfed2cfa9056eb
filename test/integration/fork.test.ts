/**
 * A program that forks: the main process is the program, as with `python3 main.py`. A child,
 * whatever it does (falls off the end, raises, exits, daemonises), ends as a child of
 * python3 would, and never reports: the result, the status and the exit code are the main
 * process's.
 */
import test from 'ava';
import { Sandbox } from '../helpers/sandbox.js';

const sandbox = new Sandbox({ poolSize: 2, queueTimeoutMs: 600_000 });
test.before(() => sandbox.initialize());
test.after.always(() => sandbox.close());

// The child runs first and ends as it will; the parent waits for it, then prints and reports.
const forked = (child: string) => `import os, sys
pid = os.fork()
if pid == 0:
${child.replace(/^/gm, '    ')}
else:
    _, status = os.waitpid(pid, 0)
    print('parent', os.waitstatus_to_exitcode(status))
result = {'pid0': pid == 0}`;

test('a child that falls off the end -> both print, the result is the parent\'s, exit 0', async (t) => {
  const r = await sandbox.run(forked("print('child', flush=True)"));
  t.like(r, { status: 'ok', stdout: 'child\nparent 0\n', result: { pid0: false }, exitCode: 0 });
});

test('a child that raises -> its traceback on stderr and exit 1 for the parent to see; the job is the parent\'s', async (t) => {
  const r = await sandbox.run(forked("raise ValueError('in the child')"));
  t.like(r, { status: 'ok', stdout: 'parent 1\n', result: { pid0: false }, error: null, exitCode: 0 });
  t.regex(r.stderr, /ValueError: in the child/);
});

test('a child that calls sys.exit(3) -> the parent sees 3; the job ends ok with exit 0', async (t) => {
  const r = await sandbox.run(forked('sys.exit(3)'));
  t.like(r, { status: 'ok', stdout: 'parent 3\n', result: { pid0: false }, exitCode: 0 });
});

test('the parent raising while a child falls off the end -> the job is the parent\'s error', async (t) => {
  const r = await sandbox.run('import os\npid = os.fork()\nif pid:\n    os.waitpid(pid, 0)\n    raise KeyError("parent")');
  t.like(r, { status: 'error', error: { type: 'KeyError' }, exitCode: 1 });
});

test('a double fork that daemonises -> the parent\'s result; the daemon does not outlive the job', async (t) => {
  const code = `import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    time.sleep(3600)
os.waitpid(pid, 0)
result = 'parent'`;
  const r = await sandbox.run({ code, timeoutMs: 20_000 });
  t.like(r, { status: 'ok', result: 'parent', timedOut: false });
});

test('pty.fork -> the child\'s output through the pty, the parent\'s result', async (t) => {
  const code = `import os, pty
pid, fd = pty.fork()
if pid == 0:
    print('on the pty')
else:
    # Up to the line's end: whether a read after the child's exit fails (Linux: EIO) or waits
    # (gVisor) is the kernel's business, not this test's.
    out = b''
    while not out.endswith(b'\\n'):
        out += os.read(fd, 1024)
    os.waitpid(pid, 0)
    result = out.decode().strip()`;
  const r = await sandbox.run(code);
  t.like(r, { status: 'ok', result: 'on the pty' }, JSON.stringify(r.error));
});

test('a fork bomb under pidsLimit 8 whose children fail to fork -> the main process\'s own exception, not a protocol error', async (t) => {
  const small = new Sandbox({ poolSize: 1, pidsLimit: 8, queueTimeoutMs: 600_000 });
  t.teardown(() => small.close());
  await small.initialize();
  const code = `import os, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except BlockingIOError as e:
    raise RuntimeError(f'stopped after {len(children)} children') from e`;
  const r = await small.run({ code, timeoutMs: 20_000 });
  t.like(r, { status: 'error', error: { type: 'RuntimeError' } });
  t.regex(r.error!.message, /^stopped after \d+ children$/);
  // Every process forks, and those that cannot die of BlockingIOError: the main process's
  // own ending is the job's, whichever it is, never a child's report.
  const bomb = await small.run({ code: 'import os\nfor _ in range(10):\n    os.fork()\nresult = os.getpid()', timeoutMs: 20_000 });
  if (bomb.status === 'ok') t.is(typeof bomb.result, 'number');
  else t.like(bomb, { status: 'error', error: { type: 'BlockingIOError' } }, JSON.stringify(bomb.error));
});

test("multiprocessing with the 'fork' start method -> still works, the children's results gathered", async (t) => {
  const code = `import multiprocessing as mp
def square(x): return x * x
if __name__ == '__main__':
    with mp.get_context('fork').Pool(2) as pool:
        result = pool.map(square, range(5))`;
  const r = await sandbox.run(code);
  t.like(r, { status: 'ok', result: [0, 1, 4, 9, 16] });
});
