import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import test from 'ava';
import { agentImageTag, defaultBaseImage } from '../../pool/image.js';
import { LABELS } from '../../contract/labels.js';
import { containersOf, docker, openSandbox, Sandbox } from '../helpers/sandbox.js';

test('50 jobs through a pool of 2, one after another -> all ok, each in its own container', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2 });
  const hosts = new Set<unknown>();
  for (let i = 0; i < 50; i++) {
    const r = await sandbox.run({ code: 'import os\nresult = [data * 2, os.uname().nodename]', data: i });
    t.is(r.status, 'ok');
    t.is((r.result as [number, string])[0], i * 2);
    hosts.add((r.result as [number, string])[1]);
  }
  t.is(hosts.size, 50);
});

test('50 jobs through a pool of 2, all at once -> all ok, queued and served', async (t) => {
  // 25 container turnovers while other tests load the machine: the wait is not what is tested.
  const sandbox = await openSandbox(t, { poolSize: 2, queueTimeoutMs: 600_000 });
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => sandbox.run({ code: 'result = data + 1', data: i })),
  );
  t.deepEqual(results.map((r) => r.result), Array.from({ length: 50 }, (_, i) => i + 1));
  t.true(results.every((r) => r.status === 'ok'));
});

test('a warm container killed from outside is replaced, and jobs keep running', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2 });
  const [victim] = await containersOf(sandbox);
  const replaced = once(sandbox, 'warm');
  await docker.getContainer(victim!).kill();
  await replaced;
  t.false((await containersOf(sandbox)).includes(victim!));
  const results = await Promise.all([sandbox.run('result = 1'), sandbox.run('result = 2'), sandbox.run('result = 3')]);
  t.deepEqual(results.map((r) => r.result), [1, 2, 3]);
});

test('a container killed from outside during a job -> that job is an error result, the next runs', async (t) => {
  const sandbox = await openSandbox(t);
  const [busy] = await containersOf(sandbox);
  const running = sandbox.run({ code: 'import time\ntime.sleep(60)', timeoutMs: 60_000 });
  // The container is leased at once; whether the agent has the job yet or not, losing it
  // must give an error result.
  t.is(sandbox.stats().busy, 1);
  await docker.getContainer(busy!).kill();
  const r = await running;
  t.like(r, { status: 'error', isError: true, memoryExceeded: false });
  t.is(r.error?.type, 'SandboxError');
  t.like(await sandbox.run('result = "next"'), { status: 'ok', result: 'next' });
});

test('close() -> no container and no pool directory left; close twice is safe', async (t) => {
  const sandbox = new Sandbox({ poolSize: 3 });
  await sandbox.initialize();
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${sandbox.id}`] } });
  t.is(containers.length, 3);
  const ioRoot = dirname(containers[0]!.Labels[LABELS.ioDir]!);
  t.true(existsSync(ioRoot));
  const r = await sandbox.run('result = 1');
  t.is(r.result, 1);
  await Promise.all([sandbox.close(), sandbox.close()]);
  await sandbox.close();
  t.deepEqual(await containersOf(sandbox), []);
  t.false(existsSync(ioRoot));
  await t.throwsAsync(sandbox.run('result = 1'), { code: 'WARMBOX_ERR_POOL_CLOSED' });
});

test('socketRoot -> the pool directories are made there, and nothing is left there after close()', async (t) => {
  const socketRoot = await mkdtemp(join(tmpdir(), 'socket-root-'));
  t.teardown(() => rm(socketRoot, { recursive: true, force: true }));
  const sandbox = new Sandbox({ poolSize: 1, socketRoot });
  await sandbox.initialize();
  const [container] = await docker.listContainers({ filters: { label: [`${LABELS.pool}=${sandbox.id}`] } });
  t.is(dirname(dirname(container!.Labels[LABELS.ioDir]!)), socketRoot);
  t.like(await sandbox.run('result = 1'), { status: 'ok', result: 1 });
  await sandbox.close();
  t.deepEqual(await readdir(socketRoot), []);
});

test('close() waits for the runs in flight', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1 });
  await sandbox.initialize();
  const running = sandbox.run('import time\ntime.sleep(0.5)\nresult = "finished"');
  const queued = sandbox.run('result = "queued"');
  await sandbox.close();
  t.like(await running, { status: 'ok', result: 'finished' });
  t.like(await queued, { status: 'ok', result: 'queued' });
  t.deepEqual(await containersOf(sandbox), []);
});

test('containers left by a crashed process are removed by the next initialize()', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', `
    import { Sandbox } from ${JSON.stringify(new URL('../../pool/index.ts', import.meta.url).pathname)};
    const sandbox = new Sandbox(2);
    await sandbox.initialize();
    process.stdout.write(sandbox.id + '\\n');
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const poolId = line.toString().trim();
  child.kill('SIGKILL');
  await once(child, 'exit');
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${poolId}`] } });
  t.is(left.length, 2);
  await openSandbox(t);
  const after = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${poolId}`] } });
  t.deepEqual(after, []);
});

test('queue full -> QueueFullError; queue timeout -> QueueTimeoutError', async (t) => {
  const sandbox = await openSandbox(t, { maxQueue: 1, queueTimeoutMs: 300 });
  const running = sandbox.run({ code: 'import time\ntime.sleep(2)', timeoutMs: 5000 });
  const waiting = sandbox.run('result = 1');
  await t.throwsAsync(sandbox.run('result = 2'), { code: 'WARMBOX_ERR_QUEUE_FULL' });
  await t.throwsAsync(waiting, { code: 'WARMBOX_ERR_QUEUE_TIMEOUT' });
  t.is((await running).status, 'ok');
});

test('abort while queued and while running -> AbortError with the reason; the pool goes on', async (t) => {
  const sandbox = await openSandbox(t);
  const controller = new AbortController();
  const running = sandbox.run({ code: 'import time\ntime.sleep(30)', timeoutMs: 60_000, signal: controller.signal });
  const queuedController = new AbortController();
  const queued = sandbox.run({ code: 'result = 1', signal: queuedController.signal });
  queuedController.abort(new Error('no longer needed'));
  await t.throwsAsync(queued, { code: 'WARMBOX_ERR_ABORTED' });
  controller.abort();
  const error = await t.throwsAsync(running, { code: 'WARMBOX_ERR_ABORTED' });
  t.is((error?.cause as Error).name, 'AbortError');
  t.like(await sandbox.run('result = 2'), { status: 'ok', result: 2 });
  await t.throwsAsync(sandbox.run({ code: 'result = 3', signal: AbortSignal.abort() }), { code: 'WARMBOX_ERR_ABORTED' });
});

test('no container runs a second job: each job, one after another or at once, finds a fresh container', async (t) => {
  // Eight at once wait for six starts, which take seconds each under gVisor on a busy machine.
  const sandbox = await openSandbox(t, { poolSize: 2, queueTimeoutMs: 300_000 });
  const removed: string[] = [];
  sandbox.on('removed', (id) => removed.push(id));
  // Each job counts the jobs its container has run in /tmp; a reused container would say 2.
  const job = 'import os\npath = "/tmp/jobs"\nn = int(open(path).read()) + 1 if os.path.exists(path) else 1\nopen(path, "w").write(str(n))\nresult = [n, os.uname().nodename]';
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await sandbox.run(job));
  results.push(...(await Promise.all(Array.from({ length: 8 }, () => sandbox.run(job)))));
  t.deepEqual(results.map((r) => (r.result as [number, string])[0]), Array(12).fill(1));
  t.is(new Set(results.map((r) => (r.result as [number, string])[1])).size, 12);
  await sandbox.close();
  // Every container that ran a job is gone, and so are the two warm ones left at close.
  t.is(new Set(removed).size, 14);
});

test('no Docker engine -> DockerUnavailableError saying where it looked and what to do', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, docker: { socketPath: '/nonexistent/docker.sock' } });
  const error = await t.throwsAsync(sandbox.initialize(), { code: 'WARMBOX_ERR_DOCKER_UNAVAILABLE' });
  t.regex(error!.message, /\/nonexistent\/docker\.sock/);
  t.regex(error!.message, /Start the engine/);
});

test('an image that is not there -> ImageNotFoundError', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, image: 'warmbox-agent:does-not-exist' });
  await t.throwsAsync(sandbox.initialize(), { code: 'WARMBOX_ERR_IMAGE_NOT_FOUND' });
});

test('an image whose agent cannot start -> initialize() rejects with ContainerStartError, nothing left', async (t) => {
  // The base image has python3 and node but no agent: the container exits at once.
  const sandbox = new Sandbox({ poolSize: 2, image: defaultBaseImage() });
  const error = await t.throwsAsync(sandbox.initialize(), { code: 'WARMBOX_ERR_CONTAINER_START' });
  t.regex(error!.message, /exited before it was ready/);
  t.deepEqual(await containersOf(sandbox), []);
});

test('an agent that never answers (container frozen) -> SandboxError once it fails a health probe, the next job runs', async (t) => {
  const sandbox = await openSandbox(t);
  const [frozen] = await containersOf(sandbox);
  // runc's cgroup v1 freezer can fail to freeze while the machine is loaded ("unable to
  // freeze"); the fault is what is tested, so it is injected again until it takes.
  for (let attempt = 1; ; attempt++) {
    try {
      await docker.getContainer(frozen!).pause();
      break;
    } catch (error) {
      if (attempt === 5 || !/unable to freeze/.test((error as Error).message)) throw error;
    }
  }
  const r = await sandbox.run({ code: 'result = 1', timeoutMs: 200 });
  t.like(r, { status: 'error', timedOut: false, result: null, isError: true });
  t.is(r.error?.type, 'SandboxError');
  t.regex(r.error?.message ?? '', /stopped answering/);
  t.like(await sandbox.run('result = 2'), { status: 'ok', result: 2 });
});

test('a replacement that fails to start is retried with backoff until it starts', async (t) => {
  // The pool's image under a tag of its own, taken away and given back.
  const tag = `warmbox-agent:retry-${process.pid}`;
  const [repo, version] = tag.split(':') as [string, string];
  const image = docker.getImage(agentImageTag()!);
  await image.tag({ repo, tag: version });
  t.teardown(() => docker.getImage(tag).remove().catch(() => {}));
  const sandbox = await openSandbox(t, { image: tag });
  await docker.getImage(tag).remove();
  const failed = once(sandbox, 'startFailed');
  t.like(await sandbox.run('result = 1'), { status: 'ok', result: 1 });
  const [error, retryInMs] = (await failed) as [Error, number];
  t.is((error as { code?: string }).code, 'WARMBOX_ERR_CONTAINER_START');
  t.true(retryInMs > 0);
  const recovered = once(sandbox, 'warm');
  await image.tag({ repo, tag: version });
  await recovered;
  t.like(await sandbox.run('result = 2'), { status: 'ok', result: 2 });
});

test('preload naming a module that does not exist -> initialize() rejects with ContainerStartError naming it', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, preload: ['json', 'nosuchmodule'] });
  t.teardown(() => sandbox.close());
  const error = await t.throwsAsync(sandbox.initialize(), { code: 'WARMBOX_ERR_CONTAINER_START' });
  t.regex(error!.message, /preload: cannot import nosuchmodule: ModuleNotFoundError/);
});

test('a pool that sizes itself: twelve jobs at once -> it grows within max, each job in a fresh container; after a quiet shrinkAfterMs it is back at min, with no other container left', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: { min: 1, max: 4 }, shrinkAfterMs: 1000, queueTimeoutMs: 300_000 });
  const sizes: number[] = [];
  const reasons: string[] = [];
  // Whenever the pool changes, it holds no more than its max, starting ones included.
  const check = () => {
    const { warm, busy, starting } = sandbox.stats();
    sizes.push(warm + busy + starting);
  };
  sandbox.on('warm', check);
  sandbox.on('resized', (_from, to, reason) => {
    check();
    reasons.push(`${to} ${reason}`);
  });
  const job = 'import os\npath = "/tmp/jobs"\nn = int(open(path).read()) + 1 if os.path.exists(path) else 1\nopen(path, "w").write(str(n))\nresult = [n, os.uname().nodename]';
  const results = await Promise.all(Array.from({ length: 12 }, () => sandbox.run(job)));
  t.deepEqual(results.map((r) => (r.result as [number, string])[0]), Array(12).fill(1), 'no container ran two jobs');
  t.is(new Set(results.map((r) => (r.result as [number, string])[1])).size, 12);
  t.true(sizes.every((size) => size <= 4), `sizes seen: ${sizes.join(' ')}`);
  t.true(reasons.includes('4 queue'), reasons.join(', '));
  // Nothing more comes: it shrinks back to its minimum, and removes every container it let go.
  await after(sandbox, 'resized', () => sandbox.stats().target === 1);
  t.like(sandbox.stats(), { target: 1, targetReason: 'quiet' });
  await after(sandbox, 'removed', async () => (await containersOf(sandbox)).length === 1);
  t.like(sandbox.stats(), { warm: 1, busy: 0, starting: 0 });
  t.like(await sandbox.run('result = 6 * 7'), { status: 'ok', result: 42 });
});

/** Resolves once `holds()` is true: now, or after one of the sandbox's `event`s. */
function after(sandbox: Sandbox, event: 'resized' | 'removed', holds: () => boolean | Promise<boolean>): Promise<void> {
  return new Promise((resolve) => {
    const look = async () => {
      if (await holds()) {
        sandbox.off(event, look);
        resolve();
      }
    };
    sandbox.on(event, look);
    void look();
  });
}
