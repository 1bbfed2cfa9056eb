import test, { type ExecutionContext } from 'ava';
import { posix } from 'node:path';
import { InvalidArgumentError, type RunStatus } from '../../pool/index.js';
import { AGENT_IO_DIR, AGENT_MEMORY_MARGIN_MB, AGENT_MEMORY_MB, AGENT_TASKS } from '../../contract/layout.js';
import { GVISOR_MEMORY_MB } from '../../pool/runtime.js';
import { MEMORY_TOLERANCE_MB, MIB, MIN_MEMORY_LIMIT_MB } from '../../contract/limits.js';
import { containersOf, docker, GVISOR, openSandbox, Sandbox } from '../helpers/sandbox.js';

// The program's own memory as its limit counts it: each of its processes' anonymous pages and
// page tables, read from /proc, and the files it wrote to tmpfs. gVisor's status has no
// RssAnon: there VmRSS, which holds the interpreter's mapped files too, a little more.
const MEASURE = `
MIB = 1 << 20
def own(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        lines = dict(line.split(":", 1) for line in f if ":" in line)
    kib = lambda name: int(lines[name].split()[0]) if name in lines else 0
    return ((kib("RssAnon") or kib("VmRSS")) + kib("VmPTE")) * 1024
`;

/** A program that holds `targetMb` in all, in one allocation on top of its interpreter. */
const singleProcess = (targetMb: number) => `${MEASURE}
hold = b"x" * (${targetMb} * MIB - own())
result = own() / MIB`;

/** Programs that hold `targetMb` in all, each in its own way; `workMb` is the size of /work. */
const HOLDING: Record<string, (targetMb: number, workMb: number) => string> = {
  'one allocation': singleProcess,
  'many small allocations': (target) => `${MEASURE}
held = []
while own() < ${target} * MIB - (64 << 10):
    held.extend(bytes(200) for _ in range(256))
result = own() / MIB`,
  // Fresh interpreters, not forks, whose pages the parent would share and /proc count twice.
  'children': (target) => `${MEASURE}
import subprocess, sys
CHILD = "import sys\\nhold = b'x' * int(sys.argv[1])\\nprint('ready', flush=True)\\nsys.stdin.read()"
children = [subprocess.Popen([sys.executable, "-c", CHILD, str(${target} * MIB // 4)], stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(2)]
for child in children:
    child.stdout.readline()
tree = lambda: own() + sum(own(child.pid) for child in children)
hold = b"x" * (${target} * MIB - tree())
result = tree() / MIB
for child in children:
    child.stdin.close()
    child.wait()`,
  'tmpfs files': (target, work) => `${MEASURE}
files = min(${target} // 2, ${work} - 2) * MIB
with open("/work/held", "wb") as f:
    f.write(b"x" * files)
hold = b"x" * (${target} * MIB - files - own())
result = (own() + files) / MIB`,
};

// A CPU limit far off, where a test is about the wall clock: under gVisor, CPU time is the
// Sentry's count, which runs on while the host preempts a task (README, gVisor).
const WALL_CLOCK_ONLY = GVISOR ? { cpuTimeMs: 60_000 } : {};

for (const limitMb of [MIN_MEMORY_LIMIT_MB, 64, 128, 512]) {
  // Under gVisor the container's limit holds its kernel too (GVISOR_MEMORY_MB) and the agent's
  // share is a fixed one: the limit is not the program's to the MiB there (README, gVisor).
  if (GVISOR) break;
  const workMb = Math.min(64, Math.floor(limitMb / 2));
  test(`memoryLimitMb ${limitMb}, held ${Object.keys(HOLDING).length} ways (one allocation, many small, children, tmpfs files) -> ${MEMORY_TOLERANCE_MB} MiB below is ok, ${MEMORY_TOLERANCE_MB} MiB above is memory`, async (t) => {
    const sandbox = await openSandbox(t, { memoryLimitMb: limitMb, poolSize: 2 });
    for (const [shape, program] of Object.entries(HOLDING)) {
      const below = await sandbox.run({ code: program(limitMb - MEMORY_TOLERANCE_MB, workMb), timeoutMs: 30_000 });
      t.like(below, { status: 'ok', memoryExceeded: false }, `${shape}, below: ${JSON.stringify(below.error)}`);
      // The program did hold what it set out to (its page tables grow with it, a MiB per 512).
      const held = below.result as number;
      t.true(held > limitMb - MEMORY_TOLERANCE_MB - 0.5 && held < limitMb, `${shape} held ${held} MiB`);
      const above = await sandbox.run({ code: program(limitMb + MEMORY_TOLERANCE_MB, workMb), timeoutMs: 30_000 });
      // Killed, or refused memory first (MemoryError, a child that cannot start): either is memory.
      t.like(above, { status: 'memory', memoryExceeded: true }, `${shape}, above: it held ${String(above.result)} MiB`);
    }
  });
}

// Under gVisor: the limit holds the program within its kernel's share.
if (GVISOR) {
  for (const limitMb of [64, 256]) {
    test(`memoryLimitMb ${limitMb}, one allocation -> 8 MiB below is ok, ${8 + GVISOR_MEMORY_MB} MiB above is memory`, async (t) => {
      const sandbox = await openSandbox(t, { memoryLimitMb: limitMb });
      t.like(await sandbox.run({ code: singleProcess(limitMb - 8), timeoutMs: 20_000 }), { status: 'ok', memoryExceeded: false });
      t.like(await sandbox.run({ code: singleProcess(limitMb + 8 + GVISOR_MEMORY_MB), timeoutMs: 20_000 }), { status: 'memory', memoryExceeded: true, signal: 'SIGKILL' });
    });
  }
}

test(`memoryLimitMb ${MIN_MEMORY_LIMIT_MB}, the bottom of its range -> a print runs, 64 MiB is memory; below it, InvalidArgumentError`, async (t) => {
  t.throws(() => new Sandbox({ memoryLimitMb: MIN_MEMORY_LIMIT_MB - 1 }), { instanceOf: InvalidArgumentError, message: /^memoryLimitMb must be between 32/ });
  const sandbox = await openSandbox(t, { memoryLimitMb: MIN_MEMORY_LIMIT_MB });
  t.like(await sandbox.run('print("hi")'), { status: 'ok', stdout: 'hi\n' });
  t.like(await sandbox.run('hold = b"x" * (64 << 20)'), { status: 'memory', memoryExceeded: true });
});

// Ways to run out of memory: each must end the program, never the agent, which then reports
// what the program printed before. Files outlive the program that wrote them, so the file
// shapes fill their directory first (as far as it holds), then the memory.
const GROW = 'x = []\nwhile True: x.append(bytearray(1 << 20))';
const filesThenGrow = (dir: string) => `try:\n    i = 0\n    while True:\n        open(f"${dir}/f{i}", "wb").write(b"x" * (1 << 20)); i += 1\nexcept OSError:\n    pass\n${GROW}`;
// Waits until the agent has read all the program wrote to stdout (TIOCOUTQ: bytes its socket
// still holds). Under gVisor the OOM kill takes the agent too; what it had read reached the
// host, what was still in the socket is lost with the kernel (docs/reliability.md).
const TAKEN = 'import fcntl, struct, termios, time\nwhile struct.unpack("i", fcntl.ioctl(1, termios.TIOCOUTQ, bytes(4)))[0]: time.sleep(0.001)';
const MEMORY_SHAPES: Record<string, string> = {
  'one huge allocation': 'x = [1] * 10 ** 9',
  'gradual growth': GROW,
  'in children': `import subprocess, sys\nfor p in [subprocess.Popen([sys.executable, "-c", ${JSON.stringify(GROW)}]) for _ in range(3)]: p.wait()\n${GROW}`,
  'files in /work': filesThenGrow('/work'),
  'files in /tmp': filesThenGrow('/tmp'),
  'files in /dev/shm': filesThenGrow('/dev/shm'),
};

for (const memoryLimitMb of [MIN_MEMORY_LIMIT_MB, 64, 256]) {
  test(`memoryLimitMb ${memoryLimitMb}, memory filled in ${Object.keys(MEMORY_SHAPES).length} ways -> memory, the program killed${GVISOR ? ' (under gVisor, the whole container)' : ', the agent alive'}, what it printed kept`, async (t) => {
    // The files' directories as large as they may be: together, the program's memory.
    const sandbox = await openSandbox(t, { memoryLimitMb, workDirSizeMb: memoryLimitMb / 2, tmpSizeMb: memoryLimitMb / 4 });
    for (const [shape, code] of Object.entries(MEMORY_SHAPES)) {
      const r = await sandbox.run({ code: `print("before", flush=True)\n${TAKEN}\n${code}`, timeoutMs: 30_000 });
      // Under gVisor the host's OOM killer ends the container, kernel and agent with it (README):
      // the output had reached the host as it was written, and the host says why it reports.
      const said = `${shape}: ${JSON.stringify(r.error)}`;
      t.like(r, { status: 'memory', memoryExceeded: true, signal: 'SIGKILL', stdout: 'before\n' }, said);
      if (!GVISOR) t.is(r.error, null, said);
    }
  });
}

test('50 MB of stdin at memoryLimitMb 256 -> the program reads it whole, exit 0: it streams to the program, the agent keeps no copy', async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 256 });
  const r = await sandbox.run({ code: 'import sys\nprint(len(sys.stdin.buffer.read()))', stdin: 'x'.repeat(50 * 1024 * 1024), timeoutMs: 60_000 });
  t.like(r, { status: 'ok', stdout: '52428800\n', exitCode: 0 });
});

test('20 MiB of data -> once the program drops it, it gets its whole memoryLimitMb: the agent keeps no copy', async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 128 });
  const r = await sandbox.run({ code: `del data\nimport gc\ngc.collect()\n${singleProcess(120)}`, data: 'x'.repeat(20 << 20), timeoutMs: 20_000 });
  t.like(r, { status: 'ok' });
});

// Forks until the kernel refuses, each child waiting on a pipe, and reports how many tasks
// the program held (its interpreter included) and the errno of the refusal.
const FORK_UNTIL_REFUSED = `
import os
r, w = os.pipe()
children = []
while True:
    try:
        pid = os.fork()
    except OSError as e:
        refused = e.errno
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    children.append(pid)
os.close(w)
for pid in children:
    os.waitpid(pid, 0)
result = {"tasks": 1 + len(children), "refused": refused}
`;

const pidsBound = test.macro({
  async exec(t: ExecutionContext, pidsLimit: number) {
    const sandbox = await openSandbox(t, { pidsLimit });
    const r = await sandbox.run(FORK_UNTIL_REFUSED);
    t.like(r, { status: 'ok' });
    t.deepEqual(r.result, { tasks: pidsLimit, refused: 11 /* EAGAIN */ });
  },
  title: (_, pidsLimit: number) => `pidsLimit ${pidsLimit} -> the program holds exactly ${pidsLimit} processes, its interpreter included`,
});

test(pidsBound, 1);
test(pidsBound, 5);
test(pidsBound, 16);

if (GVISOR) {
  test("a job's own memoryLimitMb or pidsLimit under gVisor -> InvalidArgumentError naming it: runsc cannot change a running container", async (t) => {
    const sandbox = await openSandbox(t, { maxJobMemoryLimitMb: 256 });
    await t.throwsAsync(sandbox.run({ code: '', memoryLimitMb: 200 }), { instanceOf: InvalidArgumentError, message: /^job\.memoryLimitMb cannot differ/ });
    await t.throwsAsync(sandbox.run({ code: '', pidsLimit: 2 }), { instanceOf: InvalidArgumentError, message: /^job\.pidsLimit cannot differ/ });
    t.like(await sandbox.run('result = 1'), { status: 'ok', result: 1 });
  });
} else {
  test("a job's own memoryLimitMb, on one warm pool: lowered and raised job by job, up to maxJobMemoryLimitMb", async (t) => {
    const sandbox = await openSandbox(t, { memoryLimitMb: 128, maxJobMemoryLimitMb: 300 });
    const steps: Array<[usedMb: number, limitMb: number, status: RunStatus]> = [[10, 100, 'ok'], [200, 100, 'memory'], [200, 300, 'ok'], [250, 200, 'memory']];
    for (const [usedMb, memoryLimitMb, status] of steps) {
      const r = await sandbox.run({ code: singleProcess(usedMb), memoryLimitMb, timeoutMs: 20_000 });
      t.is(r.status, status, `${usedMb} MB at ${memoryLimitMb}`);
    }
    await t.throwsAsync(sandbox.run({ code: '', memoryLimitMb: 301 }), { instanceOf: InvalidArgumentError, message: /^job\.memoryLimitMb must be .*between 96 and 300/ });
  });

  test("a job's own pidsLimit, both ways: 5 and 100 on a pool of 64, each held exactly; past maxJobPidsLimit refused", async (t) => {
    const sandbox = await openSandbox(t, { maxJobPidsLimit: 100 });
    for (const pidsLimit of [5, 100]) {
      t.like(await sandbox.run({ code: FORK_UNTIL_REFUSED, pidsLimit }), { status: 'ok', result: { tasks: pidsLimit, refused: 11 } });
    }
    await t.throwsAsync(sandbox.run({ code: '', pidsLimit: 101 }), { instanceOf: InvalidArgumentError, message: /^job\.pidsLimit/ });
  });
}

test('pidsLimit 16 -> the program holds exactly 16 threads, its main thread included', async (t) => {
  const sandbox = await openSandbox(t, { pidsLimit: 16 });
  const r = await sandbox.run(`
import threading
release = threading.Event()
threads = []
while True:
    thread = threading.Thread(target=release.wait)
    try:
        thread.start()
    except RuntimeError:
        break
    threads.append(thread)
release.set()
for thread in threads:
    thread.join()
result = 1 + len(threads)
`);
  t.like(r, { status: 'ok', result: 16 });
});

test('infinite loop -> timeout with output kept, then a normal job on the same pool', async (t) => {
  const sandbox = await openSandbox(t);
  // The wall clock is what is tested: under gVisor, whose count of CPU time runs on while the
  // host preempts a task, the CPU limit (by default the same) could come first on a busy machine.
  const looped = await sandbox.run({ code: 'print("before", flush=True)\nwhile True: pass', timeoutMs: 500, ...WALL_CLOCK_ONLY });
  t.like(looped, { status: 'timeout', timedOut: true, memoryExceeded: false, stdout: 'before\n', isError: true, signal: 'SIGKILL' });
  const next = await sandbox.run('result = "fine"');
  t.like(next, { status: 'ok', result: 'fine' });
});

test('forked children each print, then the container runs out of memory -> memory, with every line printed before kept', async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 64 });
  // Each child prints, waits until the agent has read it, tells the parent, and waits to be
  // ended with the job; the parent, once all three have, prints and grows until killed.
  const r = await sandbox.run({
    code: `import os, signal
told, tell = os.pipe()
for i in range(3):
    if os.fork() == 0:
        os.write(1, f"Allocating in child {i}\\n".encode())
        ${TAKEN.replaceAll('\n', '\n        ')}
        os.write(tell, b"x")
        signal.pause()
for _ in range(3):
    os.read(told, 1)
os.write(1, b"Allocating\\n")
${TAKEN}
chunks = []
while True:
    chunks.append(bytearray(1 << 20))
    chunks[-1][::4096] = b"x" * 256`,
    timeoutMs: 30_000,
  });
  // Under gVisor the host's OOM killer ends the whole container, agent included: the lines
  // reached the host as they were written.
  t.like(r, { status: 'memory', memoryExceeded: true, timedOut: false, signal: 'SIGKILL' });
  t.deepEqual(r.stdout.split('\n').sort(), ['', 'Allocating', 'Allocating in child 0', 'Allocating in child 1', 'Allocating in child 2']);
});

test('self-SIGKILL -> error, not memory', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run('import os, signal\nprint("bye")\nos.kill(os.getpid(), signal.SIGKILL)');
  t.like(r, { status: 'error', memoryExceeded: false, timedOut: false, signal: 'SIGKILL', exitCode: null, stdout: 'bye\n' });
});

test('exit code 137 without a kill -> error, not memory', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run('import os\nos._exit(137)');
  t.like(r, { status: 'error', memoryExceeded: false, exitCode: 137, signal: null });
});

test('fork bomb -> bounded by the pids limit, ends with the job; the next job runs', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run({
    code: 'import os\nprint("forking", flush=True)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass',
    timeoutMs: 1500,
    // The bomb's processes spin on both cores: its CPU time would reach a CPU limit equal to
    // the wall-clock one first, or not, by the machine's load. The clock is what is tested.
    cpuTimeMs: 60_000,
  });
  // Under gVisor a forked interpreter costs some 4 MiB until it is reaped: whether memory or
  // the pids limit (then the clock) ends the bomb is a race there; each is that limit's result.
  if (GVISOR && r.status === 'memory') t.like(r, { memoryExceeded: true, signal: 'SIGKILL' });
  else t.like(r, { status: 'timeout', timedOut: true, stdout: 'forking\n' });
  const next = await sandbox.run('result = 1 + 1');
  t.like(next, { status: 'ok', result: 2 });
});

test('print loop -> stopped once stdout passes maxOutputBytes: output, with the first 1 MiB kept', async (t) => {
  const sandbox = await openSandbox(t);
  // The wall clock is far off: only the output cap can end this program.
  const r = await sandbox.run({ code: 'while True:\n    print("x")', timeoutMs: 600_000 });
  t.like(r, { status: 'output', isError: true, outputTruncated: true, timedOut: false, exitCode: null, signal: 'SIGKILL' });
  t.is(r.stdout, 'x\n'.repeat(512 * 1024));
});

test('stderr flood -> stopped the same way; stdout before it kept whole', async (t) => {
  const sandbox = await openSandbox(t, { maxOutputBytes: 1000 });
  const r = await sandbox.run({ code: 'import sys\nprint("start")\nwhile True:\n    sys.stderr.write("e" * 100)', timeoutMs: 600_000 });
  t.like(r, { status: 'output', outputTruncated: true, stdout: 'start\n', stderr: 'e'.repeat(1000) });
});

test('output of exactly maxOutputBytes -> not past the cap: ok, nothing truncated', async (t) => {
  const sandbox = await openSandbox(t, { maxOutputBytes: 4096 });
  const r = await sandbox.run('import sys\nsys.stdout.write("o" * 4096)\nsys.stderr.write("e" * 4096)\nresult = "done"');
  t.like(r, { status: 'ok', outputTruncated: false, result: 'done' });
});

test('output flood of 100 MB, stopOnOutputLimit false -> runs on, capped and flagged, result still returned', async (t) => {
  const sandbox = await openSandbox(t, { maxOutputBytes: 64 * 1024, stopOnOutputLimit: false });
  const r = await sandbox.run({
    code: 'import sys\nchunk = "x" * 65536\nfor _ in range(1600):\n    sys.stdout.write(chunk)\nresult = "done"',
    timeoutMs: 30_000,
  });
  t.like(r, { status: 'ok', outputTruncated: true, result: 'done' });
  t.is(r.stdout.length, 64 * 1024);
});

test('a child that outlives the program holding stdout open -> ok, the reply not held until the timeout', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run({
    code: 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(3600)\nprint("parent done")',
    timeoutMs: 5000,
  });
  t.like(r, { status: 'ok', timedOut: false, stdout: 'parent done\n' });
});

test('only lo inside; an outside address is unreachable (probed only after that holds)', async (t) => {
  const sandbox = await openSandbox(t);
  // The engine's own account first: the container is on the `none` network only, with no address.
  const [id] = await containersOf(sandbox);
  const info = await docker.getContainer(id!).inspect();
  t.is(info.HostConfig.NetworkMode, 'none');
  const networks = info.NetworkSettings.Networks ?? {};
  t.deepEqual(Object.keys(networks).filter((name) => name !== 'none'), []);
  t.true(Object.values(networks).every((network) => !network.IPAddress && !network.GlobalIPv6Address), JSON.stringify(networks));
  const r = await sandbox.run(`
import os, socket
interfaces = sorted(name for _, name in socket.if_nameindex())
with open("/proc/net/route") as f:
    routes = f.read().splitlines()[1:]
result = {"interfaces": interfaces, "routes": routes}
# Nothing leaves the machine unless there is an interface besides lo: probe only then.
if interfaces == ["lo"] and routes == []:
    probes = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: documentation only, never routed
        probes["tcp"] = "connected"
    except OSError as e:
        probes["tcp"] = e.errno
    try:
        socket.getaddrinfo("example.com", 80)
        probes["dns"] = "resolved"
    except OSError as e:
        probes["dns"] = "failed"
    result["probes"] = probes
`);
  t.is(r.status, 'ok');
  const result = r.result as { interfaces: string[]; routes: string[]; probes?: Record<string, unknown> };
  t.deepEqual(result.interfaces, ['lo']);
  t.deepEqual(result.routes, []);
  // gVisor's network stack answers EHOSTUNREACH where Linux's answers ENETUNREACH.
  t.deepEqual(result.probes, { tcp: GVISOR ? 113 /* EHOSTUNREACH */ : 101 /* ENETUNREACH */, dns: 'failed' });
});

test('localhost (IPv4 and IPv6) and the container\'s own name resolve, and a server on localhost answers, as for python3 main.py', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run(`
import socket, threading
names = {
    "v4": sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, socket.AF_INET)}),
    "v6": sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, socket.AF_INET6)}),
    "own": socket.gethostbyname(socket.gethostname()),
}
server = socket.create_server(("localhost", 0))
port = server.getsockname()[1]
threading.Thread(target=lambda: server.accept()[0].sendall(b"hello"), daemon=True).start()
with socket.create_connection(("localhost", port), timeout=5) as client:
    names["echo"] = client.recv(5).decode()
result = names
`);
  t.like(r, { status: 'ok', result: { v4: ['127.0.0.1'], v6: ['::1'], own: '127.0.0.1', echo: 'hello' } }, r.stderr);
});

test('the program runs as an unprivileged user of its own and cannot reach the agent', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run(`
import os
result = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
try:
    os.listdir(${JSON.stringify(posix.dirname(AGENT_IO_DIR))})
    result["io"] = "listed"
except PermissionError:
    result["io"] = "denied"
try:
    os.kill(1, 9)
    result["kill_init"] = "sent"
except PermissionError:
    result["kill_init"] = "denied"
# The agent started this interpreter: it is the parent.
try:
    open(f"/proc/{os.getppid()}/mem", "rb").read(1)
    result["agent_mem"] = "read"
except (PermissionError, OSError):
    result["agent_mem"] = "denied"
`);
  t.deepEqual(r.result, { uid: 10002, gid: 10002, groups: [], io: 'denied', kill_init: 'denied', agent_mem: 'denied' });
});

test('sleeping exactly the limit, 20 times -> each result either finished (exit 0) or killed (SIGKILL, timedOut), never both', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2, queueTimeoutMs: 600_000 });
  const results = await Promise.all(Array.from({ length: 20 }, () => sandbox.run({ code: 'import time\ntime.sleep(0.3)', timeoutMs: 300, ...WALL_CLOCK_ONLY })));
  for (const r of results) {
    const finished = r.status === 'ok' && r.exitCode === 0 && r.signal === null && !r.timedOut;
    const killed = r.status === 'timeout' && r.exitCode === null && r.signal === 'SIGKILL' && r.timedOut;
    t.true(finished !== killed, JSON.stringify(r));
  }
});

test("what the program reads of its limits -> the container's: the options plus the agent's share, as README says", async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 100, pidsLimit: 20 });
  const r = await sandbox.run(`
import resource
def first(*paths):
    for path in paths:
        try:
            with open(path) as f:
                return int(f.read())
        except OSError:
            pass
result = {
    "memory": first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "pids": first("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
    "as": resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY,
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
    "memTotal": int(open("/proc/meminfo").read().split()[1]) * 1024,
}
`);
  const programMemory = (100 + AGENT_MEMORY_MARGIN_MB) * MIB;
  if (GVISOR) {
    // gVisor shows no cgroup: its /proc/meminfo's total is the container's limit, and the
    // processes limit is the program's RLIMIT_NPROC (one less: gVisor refuses past it). The
    // agent's share is the fixed one: it cannot measure its own.
    t.like(r.result, { memory: null, pids: null, as: true, nproc: 19, memTotal: programMemory + (AGENT_MEMORY_MB + GVISOR_MEMORY_MB) * MIB });
  } else {
    // RLIMIT_NPROC stays the engine's own: the pids cgroup is the limit. The agent's share is
    // what it measured of itself: Node, init and their kernel memory, some 12 MiB.
    t.like(r.result, { pids: 20 + AGENT_TASKS, as: true });
    const share = (r.result as { memory: number }).memory - programMemory;
    t.true(share > 6 * MIB && share < 20 * MIB, `the agent's share: ${share / MIB} MiB`);
  }
});
