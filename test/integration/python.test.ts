/**
 * Python as users run it: programs that work with `python3 main.py` in a terminal work the
 * same in warmbox (multiprocessing, pickling, a byte-order mark, HOME, Ctrl-C, env).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { GVISOR, RUNSC_RELEASE, Sandbox } from '../helpers/sandbox.js';

const execFileAsync = promisify(execFile);

// One pool for the file, as a service would run it.
const sandbox = new Sandbox({ poolSize: 2, queueTimeoutMs: 600_000 });
test.before(() => sandbox.initialize());
test.after.always(() => sandbox.close());

const programs: Array<[string, string, unknown]> = [
  [
    'multiprocessing.Pool with a function the code defines',
    'from multiprocessing import Pool\ndef f(x): return x * x\nif __name__ == "__main__":\n    with Pool(2) as p:\n        result = p.map(f, [1, 2, 3])',
    [1, 4, 9],
  ],
  [
    'concurrent.futures.ProcessPoolExecutor',
    'from concurrent.futures import ProcessPoolExecutor\ndef f(x): return x + 1\nif __name__ == "__main__":\n    with ProcessPoolExecutor(2) as ex:\n        result = list(ex.map(f, [1, 2]))',
    [2, 3],
  ],
  [
    'pickle of a dataclass the code defines',
    'import pickle\nfrom dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\nresult = pickle.loads(pickle.dumps(P(7))).x',
    7,
  ],
  [
    "the 'spawn' start method, which re-imports main.py in the child",
    'import multiprocessing as mp\ndef f(q): q.put("from the child")\nif __name__ == "__main__":\n    mp.set_start_method("spawn")\n    q = mp.Queue()\n    p = mp.Process(target=f, args=(q,))\n    p.start()\n    result = q.get(timeout=20)\n    p.join()',
    'from the child',
  ],
  ['a UTF-8 byte-order mark and CRLF line ends', '\ufeffx = 1\r\nif x:\r\n    y = 2\r\nresult = [x, y]\r\n', [1, 2]],
  [
    'HOME is the working directory, writable, as matplotlib and pip expect',
    'import os, pathlib\nhome = pathlib.Path.home()\n(home / ".config" / "tool").mkdir(parents=True)\n(home / ".config" / "tool" / "rc").write_text("ok")\nresult = [str(home), os.getcwd(), (home / ".config/tool/rc").read_text()]',
    ['/work', '/work', 'ok'],
  ],
  [
    'inspect.getsource of a function the code defines, and __file__',
    'import inspect\ndef hello():\n    return 1\nresult = [inspect.getsource(hello), __file__]',
    ['def hello():\n    return 1\n', '/work/main.py'],
  ],
  [
    'a module sent beside the code is importable, as beside main.py',
    'open("helper.py", "w").write("def twice(x): return 2 * x\\n")\nimport helper\nresult = helper.twice(21)',
    42,
  ],
];

for (const [title, code, expected] of programs) {
  test(`${title} -> works as with python3 main.py`, async (t) => {
    const r = await sandbox.run({ code, timeoutMs: 30_000 });
    t.like(r, { status: 'ok', error: null }, r.stderr);
    t.deepEqual(r.result, expected);
  });
}

test('a traceback shows the program\'s own source lines', async (t) => {
  const r = await sandbox.run('def f(d):\n    return d["missing"]\nf({})');
  t.regex(r.error?.traceback ?? '', /File "\/work\/main\.py", line 2, in f\n\s+return d\["missing"\]/);
});

test('uncaught KeyboardInterrupt -> ends by SIGINT as python3 does, no exit code', async (t) => {
  const r = await sandbox.run('print("before")\nraise KeyboardInterrupt');
  t.like(r, { status: 'error', exitCode: null, signal: 'SIGINT', stdout: 'before\n', timedOut: false });
  t.is(r.error?.type, 'KeyboardInterrupt');
});

test('env reaches the program, on top of its fixed few, and nothing of the agent leaks', async (t) => {
  const r = await sandbox.run({
    code: 'import os, subprocess\nresult = [os.environ["GREETING"], subprocess.run(["sh", "-c", "echo $GREETING"], capture_output=True, text=True).stdout, sorted(os.environ)]',
    env: { GREETING: 'hello there', PYTHONHASHSEED: '0' },
  });
  const [value, fromChild, names] = r.result as [string, string, string[]];
  t.is(value, 'hello there');
  t.is(fromChild, 'hello there\n');
  t.deepEqual(names, ['GREETING', 'HOME', 'LANG', 'MPLBACKEND', 'PATH', 'PYTHONHASHSEED', 'PYTHONIOENCODING', 'PYTHONUNBUFFERED']);
});

test('docker-python-sandbox jobs: v3 true is accepted; env with a bad name or a NUL is refused naming it', async (t) => {
  t.like(await sandbox.run({ code: 'import sys\nresult = sys.version_info[0]', v3: true }), { status: 'ok', result: 3 });
  await t.throwsAsync(sandbox.run({ code: '', v3: false as unknown as true }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job\.v3/ });
  await t.throwsAsync(sandbox.run({ code: '', env: { '1X': 'a' } }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job\.env\.1X/ });
  await t.throwsAsync(sandbox.run({ code: '', env: { X: 'a\0b' } }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job\.env\.X must not contain NUL/ });
  await t.throwsAsync(sandbox.run({ code: '', env: { X: 'x'.repeat(200_000) } }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job\.env holds/ });
});

test('commands programs commonly call through subprocess exist: kill, ps, sh, ls, env', async (t) => {
  const r = await sandbox.run(`
import os, subprocess
child = subprocess.Popen(["sleep", "30"])
subprocess.run(["kill", "-TERM", str(child.pid)], check=True)
result = {
    "killed": child.wait(),
    "ps": "sleep" not in subprocess.run(["ps", "-e", "-o", "comm="], capture_output=True, text=True, check=True).stdout,
    "others": [subprocess.run([c], capture_output=True).returncode for c in ("sh", "ls", "env", "true")],
}`);
  t.deepEqual(r.result, { killed: -15, ps: true, others: [0, 0, 0, 0] }, r.stderr);
});

test('the root directory as programs walk it -> os.scandir with lstat of every entry and a copy of dist-packages as under runc; `ls -l /` as runc, or as the runsc release is known to differ', async (t) => {
  const r = await sandbox.run({
    code: `
import os, shutil, subprocess
entries = {e.name: e.is_symlink() for e in os.scandir("/") if os.stat(e.path, follow_symlinks=False)}
source = "/usr/lib/python3/dist-packages"
copied = shutil.copytree(source, "/work/dist-packages")
count = lambda top: sum(len(files) for _, _, files in os.walk(top))
ls = subprocess.run(["ls", "-l", "/"], capture_output=True, text=True)
result = {"symlinks": sorted(n for n, link in entries.items() if link), "all": len(entries) >= 18,
          "copied": count(copied) == count(source) > 0, "ls": [ls.returncode, sorted(ls.stderr.splitlines()), "usr" in ls.stdout]}`,
    timeoutMs: 30_000,
  });
  t.like(r, { status: 'ok', error: null }, r.stderr);
  const symlinks = ['bin', 'lib', 'lib64', 'sbin'];
  // README and `warmbox doctor` name what these releases do (contract/gvisor.ts, RUNSC_BUILD_DIFFERENCES).
  let ls: unknown = [0, [], true];
  if (RUNSC_RELEASE !== undefined && RUNSC_RELEASE <= 20221219) ls = [2, ["ls: cannot access '/': Invalid argument"], false];
  else if (RUNSC_RELEASE === 20240729) ls = [0, ['ls: /root: Permission denied', ...symlinks.map((name) => `ls: /${name}: Bad file descriptor`)].sort(), true];
  t.deepEqual(r.result, { symlinks, all: true, copied: true, ls });
});

test('a module the program writes -> imported by four threads at once and by a child interpreter, its bytecode written as python3 writes it; removing a missing file on the read-only root -> EROFS (gVisor: EACCES), not ENOENT (README: what still differs)', async (t) => {
  const r = await sandbox.run(`
import errno, importlib, os, subprocess, sys, threading
with open("racer.py", "w") as f:
    f.write("import time\\ntime.sleep(0.05)\\nVALUE = 42\\n")
sys.path.insert(0, os.getcwd())
got = []
threads = [threading.Thread(target=lambda: got.append(importlib.import_module("racer").VALUE)) for _ in range(4)]
for thread in threads: thread.start()
for thread in threads: thread.join()
os.remove(os.path.join("__pycache__", os.listdir("__pycache__")[0]))
child = subprocess.run([sys.executable, "-c", "import racer; print(racer.VALUE)"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
try:
    os.unlink("/usr/lib/python3.11/absent.pyc")
    unlink = "removed"
except OSError as error:
    unlink = errno.errorcode[error.errno]
result = {"threads": got, "child": child.stdout + child.stderr, "pycache": sorted(os.listdir("__pycache__")), "unlink": unlink}`);
  t.deepEqual(r.result, { threads: [42, 42, 42, 42], child: '42\n', pycache: ['racer.cpython-311.pyc'], unlink: GVISOR ? 'EACCES' : 'EROFS' }, r.stderr);
});

test('the services and protocols databases are there: getservbyname, getprotobyname and getaddrinfo by service name answer as on the host', async (t) => {
  const r = await sandbox.run(`
import socket
result = [socket.getservbyname("http"), socket.getservbyname("https", "tcp"), socket.getservbyport(22), socket.getprotobyname("tcp"),
          socket.getaddrinfo("127.0.0.1", "http", type=socket.SOCK_STREAM)[0][4][1]]`);
  t.deepEqual(r.result, [80, 443, 'ssh', 6, 80], r.stderr);
});

// Modules whose docstrings hold doctests; ftplib's and smtplib's are left out because they
// reach for hosts on the internet, which the host side of this test must not.
const DOCTEST_MODULES = [
  'collections', 'decimal', '_pydecimal', 'difflib', 'doctest', 'enum', 'fractions', 'hashlib', 'heapq', 'ipaddress',
  'json', 'math', 'pickle', 'pickletools', 'shutil', 'statistics', 'subprocess', 'textwrap', 'uuid', 'zipfile',
];
const RUN_DOCTESTS = `
import contextlib, doctest, importlib, io, json
counts = {}
for name in ${JSON.stringify(DOCTEST_MODULES)}:
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = doctest.testmod(importlib.import_module(name), report=False)
    counts[name] = [outcome.failed, outcome.attempted]
result = counts
`;

test("CPython's own doctests of 20 standard modules -> the same counts in warmbox as with the host's python3", async (t) => {
  const inSandbox = await sandbox.run({ code: RUN_DOCTESTS, timeoutMs: 60_000 });
  t.like(inSandbox, { status: 'ok', error: null }, inSandbox.stderr);
  // The host's Debian interpreter, the one the image has, in a directory of its own.
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-doctest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { stdout } = await execFileAsync('/usr/bin/python3', ['-c', `${RUN_DOCTESTS}\nprint(json.dumps(result))`], { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' } });
  const onHost = JSON.parse(stdout) as Record<string, [number, number]>;
  t.true(Object.values(onHost).every(([, attempted]) => attempted > 0));
  // Under gVisor two more of subprocess's examples fail: they print what `ls -l` says of
  // /dev/null and of a missing file, which gVisor's devices and messages change.
  t.deepEqual(inSandbox.result, GVISOR ? { ...onHost, subprocess: [onHost.subprocess![0] + 2, onHost.subprocess![1]] } : onHost);
});

test('what README says still differs from a terminal -> argv, pipes, isolated mode, bytecode written, PYTHONPATH ignored, fd 4 open', async (t) => {
  const r = await sandbox.run({
    code: `
import os, sys
result = {
    "argv": sys.argv,
    "ttys": [s.isatty() for s in (sys.stdin, sys.stdout, sys.stderr)],
    "isolated": sys.flags.isolated,
    "bytecode": sys.flags.dont_write_bytecode == 0 and "PYTHONDONTWRITEBYTECODE" not in os.environ,
    "pythonpath": "/nowhere" in sys.path,
    "first": sys.path[0],
    "fd4": os.get_inheritable(4) is False,
}`,
    env: { PYTHONPATH: '/nowhere' },
  });
  t.deepEqual(r.result, { argv: ['/work/main.py'], ttys: [false, false, false], isolated: 1, bytecode: true, pythonpath: false, first: '/work', fd4: true });
});

test('a script the program writes -> not runnable or mappable executable by default (noexec: PermissionError, which finds nothing); with allowExec it runs and maps, from /work and /tmp, as CPython\'s test_shutil, test_subprocess and test_mmap need', async (t) => {
  const code = `
import os, shutil, subprocess
os.makedirs("bin")
for path in ("bin/hello", "/tmp/hello"):
    with open(path, "w") as f:
        f.write("#!/bin/sh\\necho made here\\n")
    os.chmod(path, 0o755)
os.environ["PATH"] = os.path.abspath("bin") + ":" + os.environ["PATH"]
result = {"which": shutil.which("hello")}
for name, command in (("work", ["hello"]), ("tmp", ["/tmp/hello"])):
    try:
        result[name] = subprocess.run(command, capture_output=True, text=True).stdout
    except PermissionError:
        result[name] = "PermissionError"
# What CPython's test_mmap (test_access_parameter) does: map a file it wrote executable.
import mmap
with open("/tmp/hello", "rb") as f:
    try:
        mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ | mmap.PROT_EXEC).close()
        result["mmapExec"] = "mapped"
    except PermissionError:
        result["mmapExec"] = "PermissionError"`;
  // gVisor's access() and mmap() do not weigh noexec, so which() finds the file there and it
  // maps executable; running it fails the same.
  t.like(await sandbox.run(code), { status: 'ok', result: { which: GVISOR ? '/work/bin/hello' : null, work: 'PermissionError', tmp: 'PermissionError', mmapExec: GVISOR ? 'mapped' : 'PermissionError' } });
  const allowing = new Sandbox({ poolSize: 1, allowExec: true, queueTimeoutMs: 600_000 });
  t.teardown(() => allowing.close());
  await allowing.initialize();
  t.like(await allowing.run(code), { status: 'ok', result: { which: '/work/bin/hello', work: 'made here\n', tmp: 'made here\n', mmapExec: 'mapped' } });
});
