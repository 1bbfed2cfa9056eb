/**
 * The Swarm stack (deploy/warmbox-stack.yml) on a single-node swarm of this machine's engine,
 * with the service's image built offline by buildServiceImage(): `warmbox serve` in a
 * container, starting its sibling sandboxes through the mounted Docker socket, its socket
 * directories on a host path mounted at the same path inside. The swarm is made for the test
 * (`docker swarm init --advertise-addr 127.0.0.1`) and left again, unless one was there.
 * Its sandboxes run on gVisor (WARMBOX_RUNTIME=runsc), the runtime a stack for untrusted
 * code would choose.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import test from 'ava';
import { buildServiceImage } from '../../image/build-service-image.js';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { LABELS } from '../../contract/labels.js';
import { RemoteSandbox } from '../../remote/remote-sandbox.js';
import { docker } from '../helpers/sandbox.js';
import { freePort, listening } from '../helpers/serve-process.js';
import { requireRuntime } from '../helpers/set-up.js';

const run = promisify(execFile);
const STACK_FILE = join(PACKAGE_ROOT, 'deploy', 'warmbox-stack.yml');

/** The sandbox containers whose owner ran in the container `id`. */
async function sandboxesOf(id: string): Promise<Array<{ Id: string; Labels: Record<string, string> }>> {
  const all = await docker.listContainers({ all: true, filters: { label: [LABELS.managed] } });
  return all.filter((c) => c.Labels[LABELS.ownerContainer]?.startsWith(`${id}@`));
}

/** Resolves once the container `id` has printed where it listens (the pool is warm by then). */
async function serving(id: string): Promise<void> {
  const logs = spawn('docker', ['logs', '--follow', id], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await listening(logs);
  } finally {
    logs.kill();
  }
}

test('the Swarm stack: one warmbox serve per node in its own image, jobs run through the Docker socket, a crashed task is cleaned up after, removal drains', async (t) => {
  await requireRuntime('runsc');
  const { stdout: swarmState } = await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}']);
  if (swarmState.trim() === 'inactive') {
    await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    t.teardown(() => run('docker', ['swarm', 'leave', '--force']).then(() => {}));
  }
  const image = await buildServiceImage();
  const scratch = await mkdtemp(join(tmpdir(), 'swarm-test-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const socketRoot = join(scratch, 'sockets');
  await run('mkdir', [socketRoot]);
  const token = `token-${process.pid}`;
  await writeFile(join(scratch, 'token'), token);
  const port = await freePort();
  const stack = `warmbox-test-${process.pid}`;
  const env = {
    ...process.env,
    WARMBOX_SERVICE_IMAGE: image,
    WARMBOX_TOKEN_FILE: join(scratch, 'token'),
    WARMBOX_PORT: String(port),
    WARMBOX_POOL: '1',
    WARMBOX_SOCKET_ROOT: socketRoot,
    WARMBOX_RUNTIME: 'runsc',
  };

  // Every start of one of the stack's containers, in order, from the engine's own events.
  // --since replays what happened before the command was listening.
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const events = spawn('docker', ['events', '--since', since, '--format', '{{.Actor.ID}}', '--filter', 'type=container', '--filter', 'event=start', '--filter', `label=com.docker.stack.namespace=${stack}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => events.kill());
  const starts = createInterface({ input: events.stdout! })[Symbol.asyncIterator]();
  const nextStart = async () => (await starts.next()).value as string;
  t.teardown(() => run('docker', ['stack', 'rm', stack]).then(() => {}, () => {}));
  await run('docker', ['stack', 'deploy', '--compose-file', STACK_FILE, stack], { env });

  const first = await nextStart();
  await serving(first);
  const client = new RemoteSandbox({ url: `http://127.0.0.1:${port}`, token });
  t.teardown(() => client.close());
  // Its warm sandbox is a sibling container on the same engine, whose io directory is on
  // the shared host path; with a pool of one, it is the one that runs the next job.
  const [warm] = await sandboxesOf(first);
  t.true(warm!.Labels[LABELS.ioDir]!.startsWith(`${socketRoot}/warmbox-`));
  const warmInfo = await docker.getContainer(warm!.Id).inspect();
  t.is(warmInfo.HostConfig.Runtime, 'runsc');
  const r = await client.run({ code: 'import os\nprint("hello")\nresult = [data + 1, os.uname().nodename, os.uname().release]', data: 41 });
  t.like(r, { status: 'ok', stdout: 'hello\n' });
  // That container answers (by the host name warmbox gave it), and gVisor's kernel, not the host's.
  t.deepEqual(r.result, [42, warmInfo.Config.Hostname, '4.4.0']);

  // The task dies with SIGKILL: Swarm starts another, whose pool removes what the dead one left.
  await docker.getContainer(first).kill();
  const second = await nextStart();
  await serving(second);
  t.deepEqual(await sandboxesOf(first), []);
  t.is((await sandboxesOf(second)).length, 1);
  t.like(await client.run('result = "after the restart"'), { status: 'ok', result: 'after the restart' });

  // Removing the stack stops the task with SIGTERM: it drains and exits 0, leaving nothing.
  const exited = docker.getContainer(second).wait();
  await run('docker', ['stack', 'rm', stack]);
  t.is(((await exited) as { StatusCode: number }).StatusCode, 0);
  t.deepEqual(await sandboxesOf(second), []);
  t.deepEqual(await readdir(socketRoot), []);
});
