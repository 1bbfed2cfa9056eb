/**
 * Faults: what a caller sees when the engine, a container or the caller itself misbehaves.
 * An engine that never answers is a fake (the real one cannot be made to do it); every other
 * fault here is done to the real engine and the real containers.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DockerError, DockerUnavailableError } from '../../pool/index.js';
import { LABELS } from '../../contract/labels.js';
import { containersOf, docker, Sandbox } from '../helpers/sandbox.js';

/** An engine socket whose server takes connections and answers only what `answers` says. */
async function silentEngine(t: ExecutionContext, answers: (url: string) => string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'silent-engine-'));
  const socketPath = join(dir, 'docker.sock');
  const held = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((request, response) => {
    const body = answers(request.url ?? '');
    if (body === undefined) {
      held.add(response);
      return;
    }
    response.setHeader('content-type', 'application/json');
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(async () => {
    for (const response of held) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return socketPath;
}

test('an engine that takes connections and never answers -> initialize() rejects with DockerUnavailableError after dockerTimeoutMs', async (t) => {
  const socketPath = await silentEngine(t, () => undefined);
  const sandbox = new Sandbox({ poolSize: 1, dockerTimeoutMs: 300, docker: { socketPath } });
  await t.throwsAsync(sandbox.initialize(), { instanceOf: DockerUnavailableError, message: /no answer within 300 ms/ });
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0 });
});

// Serial, with a deadline that a loaded machine's ping answer (served by this very process)
// stays well inside: only the call after the ping may run into it.
test.serial('an engine that answers its ping and then nothing -> initialize() rejects with DockerError naming the call', async (t) => {
  const socketPath = await silentEngine(t, (url) => (url.endsWith('/_ping') ? 'OK' : undefined));
  const sandbox = new Sandbox({ poolSize: 1, dockerTimeoutMs: 3000, image: 'warmbox-agent:any', docker: { socketPath } });
  const error = await t.throwsAsync(sandbox.initialize(), { instanceOf: DockerError });
  t.regex(error!.message, /did not answer in time to list its runtimes \(dockerTimeoutMs\)/);
});

test('destroy() while jobs run and wait -> each rejects with PoolClosedError at once, every container and directory is gone', async (t) => {
  const sandbox = new Sandbox({ poolSize: 2 });
  await sandbox.initialize();
  const ioRoot = dirname((await docker.listContainers({ filters: { label: [`${LABELS.pool}=${sandbox.id}`] } }))[0]!.Labels[LABELS.ioDir]!);
  let running = 0;
  let outcomes: Array<Promise<string | undefined>> = [];
  const twoRunning = new Promise<void>((resolve) => {
    const onStdout = () => {
      if (++running === 2) resolve();
    };
    outcomes = Array.from({ length: 5 }, () =>
      sandbox.run({ code: 'import time\nprint("started")\ntime.sleep(600)', timeoutMs: 600_000 }, { onStdout }).then(
        (r) => r.status,
        (error: Error & { code?: string }) => error.code,
      ),
    );
  });
  // Two run (each has printed), three wait.
  await twoRunning;
  t.like(sandbox.stats(), { busy: 2, queued: 3 });
  await sandbox.destroy();
  t.deepEqual(await Promise.all(outcomes), Array(5).fill('WARMBOX_ERR_POOL_CLOSED'));
  t.deepEqual(await containersOf(sandbox), []);
  t.false(existsSync(ioRoot));
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0 });
  await sandbox.destroy();
  await sandbox.close();
  await t.throwsAsync(sandbox.run('result = 1'), { code: 'WARMBOX_ERR_POOL_CLOSED' });
});

test('60 jobs aborted at random moments, queued or running -> every one settles, stats() stays true, nothing is left after close()', async (t) => {
  const sandbox = new Sandbox({ poolSize: 2, queueTimeoutMs: 600_000 });
  await sandbox.initialize();
  // A fixed spread of abort times from 0 to 1.5 s, in a scrambled order.
  const outcomes = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      sandbox.run({ code: 'import time\ntime.sleep(0.2)\nresult = 1', signal: AbortSignal.timeout(((i * 37) % 60) * 25) }).then(
        (r) => r.status,
        (error: Error & { code?: string }) => error.code,
      ),
    ),
  );
  t.true(outcomes.every((o) => o === 'ok' || o === 'WARMBOX_ERR_ABORTED'), JSON.stringify(outcomes));
  t.true(outcomes.includes('WARMBOX_ERR_ABORTED'));
  t.like(sandbox.stats(), { busy: 0, queued: 0 });
  await sandbox.close();
  t.deepEqual(await containersOf(sandbox), []);
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0 });
});

test('the socket root full when a replacement is prepared -> startFailed with ENOSPC, the warm pool keeps serving, and heals once there is room', async (t) => {
  // A file system of its own, with few inodes, that the test can fill and empty.
  const root = await mkdtemp(join(tmpdir(), 'full-root-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=64', 'tmpfs', root]);
  t.teardown(async () => {
    execFileSync('umount', ['--lazy', root]);
    await rm(root, { recursive: true, force: true });
  });
  const sandbox = new Sandbox({ poolSize: 1, socketRoot: root });
  t.teardown(() => sandbox.close());
  await sandbox.initialize();
  const filler = join(root, 'filler');
  await mkdir(filler);
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(filler, String(i)), '');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
      throw error;
    }
  }
  const failed = once(sandbox, 'startFailed');
  t.like(await sandbox.run('result = "warm before"'), { status: 'ok', result: 'warm before' });
  const [error] = (await failed) as [Error];
  t.regex(error.message, /ENOSPC|no space/i);
  const healed = once(sandbox, 'warm');
  await rm(filler, { recursive: true });
  await healed;
  t.like(await sandbox.run('result = "after"'), { status: 'ok', result: 'after' });
});

test('a socket root that cannot be written -> initialize() rejects with ContainerStartError, no container made', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, socketRoot: '/proc/warmbox-cannot-write' });
  await t.throwsAsync(sandbox.initialize(), { code: 'WARMBOX_ERR_CONTAINER_START', message: /could not make a directory for the agents' sockets/ });
  t.deepEqual(await containersOf(sandbox), []);
});
