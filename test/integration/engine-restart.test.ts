/**
 * The Docker engine stopped and started again under a Sandbox, as `systemctl restart docker`
 * does it. The engine is one of the test's own (test/helpers/own-engine.ts), so the other
 * tests keep the machine's engine meanwhile; each test here stops it, so they run serially.
 */
import { once } from 'node:events';
import test from 'ava';
import { DockerError, type RunResult } from '../../pool/index.js';
import { agentImageTag } from '../../pool/image.js';
import { OwnEngine } from '../helpers/own-engine.js';
import { Sandbox } from '../helpers/sandbox.js';

let engine: OwnEngine;

test.before(async () => {
  engine = await OwnEngine.create([agentImageTag()!]);
});

test.after.always(async () => {
  await engine?.dispose();
});

test.afterEach.always(async () => {
  if (!engine.running) await engine.start();
});

/** A job that says it started, then sleeps; resolves `started` when it has said so. */
function sleeper(sandbox: Sandbox): { started: Promise<void>; result: Promise<RunResult> } {
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const result = sandbox.run(
    { code: 'import time\nprint("started", flush=True)\ntime.sleep(60)', timeoutMs: 30_000 },
    { onStdout: (chunk) => chunk.includes('started') && onStarted() },
  );
  return { started, result };
}

async function until(sandbox: Sandbox, event: string, holds: () => boolean): Promise<void> {
  while (!holds()) await once(sandbox, event);
}

test.serial(
  'the engine stopped under load and started again -> running jobs end as errors, queued ones run once it is back, the same Sandbox heals and leaves nothing',
  async (t) => {
    const sandbox = new Sandbox({ poolSize: 2, docker: { socketPath: engine.socketPath }, queueTimeoutMs: 120_000 });
    t.teardown(() => sandbox.destroy());
    await sandbox.initialize();

    const running = [sleeper(sandbox), sleeper(sandbox)];
    await Promise.all(running.map((job) => job.started));
    const queued = [sandbox.run('print(6 * 7)'), sandbox.run('print(6 * 7)')];
    t.is(sandbox.stats().queued, 2);

    const startFailed = once(sandbox, 'startFailed');
    await engine.stop();
    const stoppedAt = performance.now();
    // What ran is lost with its container: an error result, not a hang and not a crash.
    for (const job of running) {
      const result = await job.result;
      t.is(result.status, 'error');
      t.is(result.error?.type, 'SandboxError');
    }
    t.log(`running jobs settled ${Math.round(performance.now() - stoppedAt)} ms after the engine stopped`);
    // The replacements fail while it is down, and are tried again.
    t.true(((await startFailed) as [Error, number])[1] > 0);
    // Down long enough for the backoff to grow to seconds, which, the engine back, is not waited out.
    while (((await once(sandbox, 'startFailed')) as [Error, number])[1] < 3200);
    t.is(sandbox.stats().queued, 2);

    await engine.start();
    const startedAt = performance.now();
    for (const result of await Promise.all(queued)) {
      t.is(result.status, 'ok');
      t.is(result.stdout, '42\n');
    }
    t.log(`queued jobs done ${Math.round(performance.now() - startedAt)} ms after the engine was back`);
    await until(sandbox, 'warm', () => sandbox.stats().warm === 2);
    t.log(`pool warm again ${Math.round(performance.now() - startedAt)} ms after the engine was back`);
    t.is((await sandbox.run('print("again")')).stdout, 'again\n');

    await sandbox.close();
    // The containers the engine stopped with it were removed once it was back.
    t.deepEqual(await engine.docker.listContainers({ all: true }), []);
  },
);

test.serial('close() while the engine is down -> it waits for the engine, then removes everything', async (t) => {
  const sandbox = new Sandbox({ poolSize: 2, docker: { socketPath: engine.socketPath }, dockerTimeoutMs: 60_000 });
  await sandbox.initialize();
  await engine.stop();
  const closing = sandbox.close();
  await engine.start();
  await closing;
  t.deepEqual(await engine.docker.listContainers({ all: true }), []);
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0 });
});

test.serial('close() while the engine stays down -> DockerError naming what may be left, after dockerTimeoutMs', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, docker: { socketPath: engine.socketPath }, dockerTimeoutMs: 3_000 });
  await sandbox.initialize();
  const id = (await engine.docker.listContainers({ all: true }))[0]!.Id;
  await engine.stop();
  const error = await t.throwsAsync(sandbox.close(), { instanceOf: DockerError });
  // Its container by id where its removal failed; the pool by id where the engine took the
  // removal and stopped before finishing it (the container is then left, dead).
  t.true(error!.message.includes(id.slice(0, 12)) || error!.message.includes(sandbox.id), error!.message);
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0 });
});
