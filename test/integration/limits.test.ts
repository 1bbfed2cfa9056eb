import test from 'ava';
import { containersOf, docker, openSandbox } from '../helpers/sandbox.js';

test('infinite loop -> timeout with output kept, then a normal job on the same pool', async (t) => {
  const sandbox = await openSandbox(t);
  const looped = await sandbox.run({ code: 'print("before", flush=True)\nwhile True: pass', timeoutMs: 500 });
  t.like(looped, { status: 'timeout', timedOut: true, memoryExceeded: false, stdout: 'before\n', isError: true, signal: 'SIGKILL' });
  const next = await sandbox.run('result = "fine"');
  t.like(next, { status: 'ok', result: 'fine' });
});

test('memory bomb -> memory, with output printed before it kept', async (t) => {
  const sandbox = await openSandbox(t, { memoryLimitMb: 64 });
  const r = await sandbox.run({
    code: 'print("allocating")\nchunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n    chunks[-1][::4096] = b"x" * 256',
    timeoutMs: 10_000,
  });
  t.like(r, { status: 'memory', memoryExceeded: true, timedOut: false, signal: 'SIGKILL', stdout: 'allocating\n' });
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
  });
  t.like(r, { status: 'timeout', timedOut: true, stdout: 'forking\n' });
  const next = await sandbox.run('result = 1 + 1');
  t.like(next, { status: 'ok', result: 2 });
});

test('output flood of 100 MB -> capped at maxOutputBytes and flagged, result still returned', async (t) => {
  const sandbox = await openSandbox(t, { maxOutputBytes: 64 * 1024 });
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
  // The engine's own account first: the container is attached to no network at all.
  const [id] = await containersOf(sandbox);
  const info = await docker.getContainer(id!).inspect();
  t.is(info.HostConfig.NetworkMode, 'none');
  t.deepEqual(Object.keys(info.NetworkSettings.Networks ?? {}), []);
  const r = await sandbox.run(`
import os, socket
interfaces = sorted(os.listdir("/sys/class/net"))
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
  t.deepEqual(result.probes, { tcp: 101 /* ENETUNREACH */, dns: 'failed' });
});

test('the program runs as an unprivileged user of its own and cannot reach the agent', async (t) => {
  const sandbox = await openSandbox(t);
  const r = await sandbox.run(`
import os
result = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
try:
    os.listdir("/run/warmbox")
    result["io"] = "listed"
except PermissionError:
    result["io"] = "denied"
try:
    os.kill(1, 9)
    result["kill_init"] = "sent"
except PermissionError:
    result["kill_init"] = "denied"
agent = [p for p in os.listdir("/proc") if p.isdigit() and "agent" in open(f"/proc/{p}/cmdline").read()]
try:
    open(f"/proc/{agent[0]}/mem", "rb").read(1)
    result["agent_mem"] = "read"
except (PermissionError, OSError):
    result["agent_mem"] = "denied"
`);
  t.deepEqual(r.result, { uid: 10002, gid: 10002, groups: [], io: 'denied', kill_init: 'denied', agent_mem: 'denied' });
});

test('sleeping exactly the limit, 20 times -> each result either finished (exit 0) or killed (SIGKILL, timedOut), never both', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2, queueTimeoutMs: 600_000 });
  const results = await Promise.all(Array.from({ length: 20 }, () => sandbox.run({ code: 'import time\ntime.sleep(0.3)', timeoutMs: 300 })));
  for (const r of results) {
    const finished = r.status === 'ok' && r.exitCode === 0 && r.signal === null && !r.timedOut;
    const killed = r.status === 'timeout' && r.exitCode === null && r.signal === 'SIGKILL' && r.timedOut;
    t.true(finished !== killed, JSON.stringify(r));
  }
});
