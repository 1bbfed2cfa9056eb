/**
 * The `warmbox` command as a user runs it: a subprocess of the built CLI, against real Docker.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { request } from 'undici';
import WebSocket from 'ws';
import { TESTED_RUNSC } from '../../contract/gvisor.js';
import { LABELS } from '../../contract/labels.js';
import { readRunscBuild } from '../../host/runsc-build.js';
import { ownerOf } from '../../pool/labels.js';
import { docker } from '../helpers/sandbox.js';
import { listening } from '../helpers/serve-process.js';
import { requireDataImage, requireRuntime } from '../helpers/set-up.js';
import { createServer } from 'node:http';
import { onLoopback } from '../helpers/loopback.js';

const CLI = new URL('../../dist/cli/warmbox.js', import.meta.url).pathname;

async function workDir(t: ExecutionContext, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-cli-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

async function warmbox(args: string[], cwd: string, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

test('warmbox run FILE --data --file --return -> output, returned files under --out, the program\'s exit code', async (t) => {
  const dir = await workDir(t, {
    'main.py': 'import sys, helper, os\nprint(helper.twice(data["n"]))\nprint("to stderr", file=sys.stderr)\nos.makedirs("out")\nopen("out/a.txt", "w").write("made inside")\nsys.exit(3)',
    'helper.py': 'def twice(x):\n    return 2 * x\n',
  });
  const r = await warmbox(['run', 'main.py', '--data', '{"n": 21}', '--file', 'helper.py', '--return', 'out/*', '--out', 'back'], dir);
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, '42\n');
  t.is(r.stderr, 'to stderr\n');
  t.is(await readFile(join(dir, 'back', 'out', 'a.txt'), 'utf8'), 'made inside');
});

test('warmbox run --runtime runsc -> the program runs on gVisor\'s kernel; an unknown runtime -> exit 70 naming the fix', async (t) => {
  await requireRuntime('runsc');
  const dir = await workDir(t, { 'kernel.py': 'import os\nprint(os.uname().release)' });
  const gvisor = await warmbox(['run', 'kernel.py', '--runtime', 'runsc'], dir);
  t.is(gvisor.code, 0, gvisor.stderr);
  t.is(gvisor.stdout, '4.4.0\n');
  const unknown = await warmbox(['run', 'kernel.py', '--runtime', 'nosuch'], dir);
  t.is(unknown.code, 70);
  t.regex(unknown.stderr, /^warmbox: WARMBOX_ERR_RUNTIME_NOT_FOUND: the Docker engine has no runtime "nosuch"/);
});

test('warmbox doctor -> one line per check with its status, runc and runsc among the runtimes; exit 0 on this machine', async (t) => {
  await requireRuntime('runsc');
  await requireDataImage();
  const r = await warmbox(['doctor'], tmpdir());
  t.is(r.code, 0, r.stdout + r.stderr);
  for (const check of ['engine', 'cgroup', 'image', 'image:data', 'runtime:runc', 'runtime:runsc']) {
    t.regex(r.stdout, new RegExp(`^(ok|warn)\\s+${check}\\s`, 'm'), check);
  }
  // The runsc this machine has: its release, its platform, what that release gets wrong, and
  // a warning for a release other than the one the suites pass on.
  const { release, defaultPlatform } = await readRunscBuild('/usr/bin/runsc');
  t.regex(r.stdout, new RegExp(`^(ok|warn)\\s+runtime:runsc\\s+gVisor ${release} \\(/usr/bin/runsc, --host-uds=all --network=none\\): a second kernel, platform ${defaultPlatform}`, 'm'));
  if (release === TESTED_RUNSC) {
    t.regex(r.stdout, /^ok\s+runtime:runsc\s.*this build differs: `ls -l` fails on every path/m);
  } else {
    t.regex(r.stdout, /^warn\s+runtime:runsc\s.*the release warmbox's suites pass on\n\s+fix: /m);
  }
});

test('warmbox run with stdin piped in -> the program reads it', async (t) => {
  const dir = await workDir(t, { 'ask.py': 'name = input()\nprint(f"hello {name}")' });
  const r = await warmbox(['run', 'ask.py'], dir, 'Ada\n');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello Ada\n');
});

test('warmbox run -> documented exit codes for a timeout (124), memory (137) and a signal (128+N)', async (t) => {
  const dir = await workDir(t, { 'loop.py': 'while True: pass', 'hog.py': 'x = b"x" * (64 << 20)', 'kill.py': 'import os\nos.kill(os.getpid(), 15)' });
  t.is((await warmbox(['run', 'loop.py', '--timeout-ms', '300'], dir)).code, 124);
  t.is((await warmbox(['run', 'hog.py', '--memory-mb', '32'], dir)).code, 137);
  t.is((await warmbox(['run', 'kill.py'], dir)).code, 128 + 15);
});

test('warmbox run with a wrong command line -> exit 2 and a clear message; --help -> 0', async (t) => {
  const dir = await workDir(t, { 'main.py': 'print(1)' });
  const missing = await warmbox(['run'], dir);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /exactly one FILE/);
  const badData = await warmbox(['run', 'main.py', '--data', '{nope'], dir);
  t.is(badData.code, 2);
  t.regex(badData.stderr, /--data is not JSON/);
  const badMemory = await warmbox(['run', 'main.py', '--memory-mb', '3'], dir);
  t.is(badMemory.code, 2);
  t.regex(badMemory.stderr, /memoryLimitMb must be between 32/);
  const help = await warmbox(['run', '--help'], dir);
  t.is(help.code, 0);
  t.regex(help.stdout, /124 {2}it hit its time limit/);
  const serviceWithPackages = await warmbox(['build-image', '--service', '--packages', 'python3-numpy'], dir);
  t.is(serviceWithPackages.code, 2);
  t.regex(serviceWithPackages.stderr, /--service takes neither --base, --packages nor --data/);
  const relativeRoot = await warmbox(['serve', '--port', '0', '--socket-root', 'no/such/dir'], dir);
  t.not(relativeRoot.code, 0);
  t.regex(relativeRoot.stderr, /socket/);
});

test('warmbox serve, SIGTERM while a job runs -> not ready, no new jobs, the running one finishes, nothing left', async (t) => {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pool', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const { address: url, stderr } = await listening(child);
  // The label its containers carry, read while the process lives (it names its start time).
  const owner = ownerOf(child.pid!);
  t.truthy(owner);
  const socket = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
  const messages: Array<{ type: string; data?: string; result?: { status: string; result: unknown } }> = [];
  const heard = new Promise<void>((resolve) =>
    socket.on('message', (raw) => {
      messages.push(JSON.parse(raw.toString()) as (typeof messages)[number]);
      if (messages.at(-1)?.type === 'stdout') resolve();
    }),
  );
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'run', job: { code: 'print("started", flush=True)\nresult = input()', timeoutMs: 60_000 } }));
  await heard;

  child.kill('SIGTERM');
  // Draining: the probe says so as soon as the signal is handled, and new jobs are refused.
  let ready = await request(`${url}/readyz`);
  while (ready.statusCode === 200) {
    await ready.body.dump();
    ready = await request(`${url}/readyz`);
  }
  t.like(await ready.body.json(), { status: 'draining' });
  const refused = await request(`${url}/v1/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":""}' });
  t.is(refused.statusCode, 503);
  t.like(await refused.body.json(), { code: 'WARMBOX_ERR_POOL_CLOSED' });

  socket.send(JSON.stringify({ type: 'stdin', data: 'finished anyway\n' }));
  await once(socket, 'close');
  t.like(messages.find((m) => m.type === 'result')?.result, { status: 'ok', result: 'finished anyway' });
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 0, stderr());
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } });
  t.deepEqual(left, []);
});

test('warmbox run --allow --resolve -> the program reaches that host and no other; each connection reported on stderr', async (t) => {
  const api = createServer((request, response) => response.end(`hello from ${request.headers.host}`));
  const port = await onLoopback(api, t.teardown.bind(t));
  const dir = await workDir(t, {
    'main.py': `import urllib.request, urllib.error\nprint(urllib.request.urlopen("http://api.test:${port}/").read().decode())\ntry:\n    urllib.request.urlopen("http://other.test:${port}/")\nexcept urllib.error.HTTPError as e:\n    print(e.code)`,
  });
  const r = await warmbox(['run', 'main.py', '--allow', `api.test:${port}`, '--resolve', 'api.test=127.0.0.1'], dir);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `hello from api.test:${port}\n403\n`);
  t.regex(r.stderr, new RegExp(`^warmbox: egress api\\.test:${port} \\(127\\.0\\.0\\.1\\) allowed: (closed|job-ended), \\d+ B out, \\d+ B in, \\d+ ms$`, 'm'));
  t.regex(r.stderr, new RegExp(`^warmbox: egress other\\.test:${port} refused: not-allowed`, 'm'));
  const wrong = await warmbox(['run', 'main.py', '--resolve', 'api.test=127.0.0.1'], dir);
  t.is(wrong.code, 2);
  t.regex(wrong.stderr, /--resolve goes with --allow/);
});
