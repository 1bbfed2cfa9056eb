/**
 * Scale-out on standard parts: three `warmbox serve` instances, each with its own pool on this
 * machine's engine, behind HAProxy with deploy/haproxy.cfg, all on loopback; clients are
 * RemoteSandboxes. `npm run test:scale` runs it alone; it is part of `npm test` too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { request } from 'undici';
import { RemoteError, SessionNotFoundError } from '../../pool/index.js';
import { LABELS } from '../../contract/labels.js';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { ownerOf } from '../../pool/labels.js';
import { RemoteSandbox } from '../../remote/remote-sandbox.js';
import { docker } from '../helpers/sandbox.js';
import { freePort, listening } from '../helpers/serve-process.js';
import { requireProgram } from '../helpers/set-up.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'cli', 'warmbox.js');
const CONFIG = join(PACKAGE_ROOT, 'deploy', 'haproxy.cfg');

interface Instance {
  readonly name: string;
  readonly port: number;
  process: ChildProcess;
  owner: string | undefined;
}

/** Starts `warmbox serve` on `port` (pool 1, queue 1) and resolves once it listens. */
async function startInstance(instance: Instance): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(instance.port), '--pool', '1', '--max-queue', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  instance.process = child;
  await listening(child);
  instance.owner = ownerOf(child.pid!);
}

/** HAProxy's view of each server, from its stats socket: { w1: 'UP', ... }. */
async function serverStates(statsSocket: string): Promise<Record<string, string>> {
  const socket = connect(statsSocket);
  socket.end('show stat\n');
  let text = '';
  for await (const chunk of socket) text += String(chunk);
  const states: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [proxy, server, ...fields] = line.split(',');
    if (proxy === 'warmbox_instances' && server?.startsWith('w')) states[server] = fields[15]!;
  }
  return states;
}

/** Waits until HAProxy sees the servers as wanted; it checks every 100-250 ms. */
async function until(statsSocket: string, wanted: Record<string, 'UP' | 'DOWN'>): Promise<void> {
  for (;;) {
    const states = await serverStates(statsSocket);
    if (Object.entries(wanted).every(([server, state]) => states[server]?.startsWith(state))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function sessionsOpen(instance: Instance): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${instance.port}/metrics`)).body.text();
  return Number(/^warmbox_sessions_open (\d+)$/m.exec(text)?.[1] ?? 0);
}

async function jobsDone(instance: Instance): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${instance.port}/metrics`)).body.text();
  return [...text.matchAll(/^warmbox_jobs_total\{status="\w+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Starts a job that prints and waits for a line; resolves once it printed, with its stdin and result. */
async function holdJob(remote: RemoteSandbox) {
  const stdin = new PassThrough();
  let started!: () => void;
  const printed = new Promise<void>((resolve) => (started = resolve));
  const result = remote.run({ code: 'import os\nprint(os.uname().nodename, flush=True)\nresult = input()', stdin, timeoutMs: 60_000 }, { onStdout: () => started() });
  result.catch(() => {});
  await printed;
  return { stdin, result };
}

test.serial('three instances behind HAProxy: spread, routing by capacity, sessions routed by id, SIGKILL under load, SIGTERM drain', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-scale-'));
  const instances: Instance[] = [];
  for (const name of ['w1', 'w2', 'w3']) instances.push({ name, port: await freePort(), process: undefined as never, owner: undefined });
  const lbPort = await freePort();
  const statsSocket = join(dir, 'haproxy.sock');
  let haproxy: ChildProcess | undefined;
  t.teardown(async () => {
    haproxy?.kill('SIGKILL');
    for (const instance of instances) instance.process?.kill('SIGTERM');
    const running = instances.filter((instance) => instance.process && instance.process.exitCode === null && instance.process.signalCode === null);
    await Promise.all(running.map((instance) => once(instance.process, 'exit')));
    await rm(dir, { recursive: true, force: true });
  });
  await Promise.all(instances.map(startInstance));
  haproxy = spawn(await requireProgram('/usr/sbin/haproxy'), ['-f', CONFIG, '-db'], {
    stdio: 'ignore',
    env: {
      ...process.env,
      WARMBOX_LB_BIND: `127.0.0.1:${lbPort}`,
      WARMBOX_LB_STATS: statsSocket,
      ...Object.fromEntries(instances.map((instance, i) => [`WARMBOX_${i + 1}`, `127.0.0.1:${instance.port}`])),
    },
  });
  const lb = new RemoteSandbox({ url: `http://127.0.0.1:${lbPort}` });
  t.teardown(() => lb.close());
  // HAProxy's socket appears once it runs; then every instance must pass its check.
  for (;;) {
    try {
      await until(statsSocket, { w1: 'UP', w2: 'UP', w3: 'UP' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // Spread: three jobs held open, one after another, land on three instances, one each
  // (least connections).
  const held = [await holdJob(lb), await holdJob(lb), await holdJob(lb)];
  for (const job of held) job.stdin.end('spread\n');
  const spread = await Promise.all(held.map((job) => job.result));
  t.true(spread.every((r) => r.status === 'ok' && r.result === 'spread'));
  t.deepEqual(await Promise.all(instances.map(jobsDone)), [1, 1, 1]);
  // A job's result through the balancer is the one through one instance.
  const direct = new RemoteSandbox({ url: `http://127.0.0.1:${instances[0]!.port}` });
  t.teardown(() => direct.close());
  const job = { code: 'result = {"sum": sum(data), "text": "é"}', data: [1, 2, 3] };
  // One after another: an instance has one container and one queue place.
  const viaLb = await lb.run(job);
  const viaOne = await direct.run(job);
  const { durationMs: _a, ...a } = viaLb;
  const { durationMs: _b, ...b } = viaOne;
  t.deepEqual(a, b);

  // Sessions, routed by id: opened through the balancer until one is on w1, each keeps its
  // state over cells sent through the balancer (any cell that reached another instance would
  // answer 404), with jobs between them going anywhere.
  await until(statsSocket, { w1: 'UP', w2: 'UP', w3: 'UP' });
  const sessions: Array<{ session: Awaited<ReturnType<RemoteSandbox['session']>>; onW1: boolean }> = [];
  while (!sessions.some(({ onW1 }) => onW1)) {
    const before = await sessionsOpen(instances[0]!);
    const session = await lb.session();
    sessions.push({ session, onW1: (await sessionsOpen(instances[0]!)) > before });
    t.true(sessions.length <= 6, 'leastconn puts one of the first sessions on w1');
  }
  for (const [i, { session }] of sessions.entries()) await session.run(`n = ${i}`);
  for (let round = 0; round < 3; round++) {
    for (const [i, { session }] of sessions.entries()) {
      t.like(await session.run('n'), { value: { json: i } });
      t.like(await lb.run('result = 0'), { status: 'ok' });
    }
  }

  // Capacity: w1's one container busy and its one queue place taken -> /readyz 503 -> out of
  // rotation; the balancer's jobs go to w2 and w3 only.
  await until(statsSocket, { w1: 'UP', w2: 'UP', w3: 'UP' });
  const busy = await holdJob(direct);
  const queued = direct.run({ code: 'result = "queued on w1"' });
  await until(statsSocket, { w1: 'DOWN' });
  const before = await jobsDone(instances[0]!);
  for (let i = 0; i < 4; i++) t.like(await lb.run('result = 1'), { status: 'ok' });
  t.is(await jobsDone(instances[0]!), before);
  // A session w1 holds is still served there: its container is its own, not the pool's.
  for (const [i, { session, onW1 }] of sessions.entries()) if (onW1) t.like(await session.run('n'), { value: { json: i } });
  busy.stdin.end('done\n');
  t.like(await busy.result, { status: 'ok' });
  t.like(await queued, { status: 'ok', result: 'queued on w1' });

  // SIGKILL under load: one job running on each instance, then w1 dies. Its job comes back as
  // RemoteError (never a hang, never run again); the others finish; new jobs go to w2 and w3.
  await until(statsSocket, { w1: 'UP', w2: 'UP', w3: 'UP' });
  const load = [await holdJob(lb), await holdJob(lb), await holdJob(lb)];
  const killedOwner = instances[0]!.owner;
  instances[0]!.process.kill('SIGKILL');
  await once(instances[0]!.process, 'exit');
  for (const job of load) job.stdin.end('survived\n');
  const outcomes = await Promise.allSettled(load.map((job) => job.result));
  const lost = outcomes.filter((o) => o.status === 'rejected');
  t.is(lost.length, 1);
  t.true((lost[0] as PromiseRejectedResult).reason instanceof RemoteError);
  t.is(outcomes.filter((o) => o.status === 'fulfilled' && o.value.result === 'survived').length, 2);
  // One after another: two instances of one container and one queue place each take them.
  for (let i = 0; i < 3; i++) t.like(await lb.run('result = 2'), { status: 'ok', result: 2 });
  // The session w1 held: its next cell reaches another instance, which has no such session.
  for (const { session, onW1 } of sessions) {
    if (onW1) await t.throwsAsync(session.run('n'), { instanceOf: SessionNotFoundError, message: /no session/ });
    else t.like(await session.run('n'), { status: 'ok' });
  }
  // Back on its port, w1's new process removes what the killed one left, if a sweep of another
  // process on this engine (any Sandbox's initialize(): another test file's, run meanwhile) has
  // not already; the sweep itself is pool.test.ts's. Either way nothing of it is left after.
  await startInstance(instances[0]!);
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${killedOwner}`] } }), []);
  await until(statsSocket, { w1: 'UP' });

  // SIGTERM drains: w2 finishes its job, leaves rotation, takes no new ones, leaves nothing.
  const draining = await holdJob(new RemoteSandbox({ url: `http://127.0.0.1:${instances[1]!.port}` }));
  const drainedOwner = instances[1]!.owner;
  instances[1]!.process.kill('SIGTERM');
  await until(statsSocket, { w2: 'DOWN' });
  for (let i = 0; i < 2; i++) t.like(await lb.run('result = 3'), { status: 'ok', result: 3 });
  draining.stdin.end('drained\n');
  t.like(await draining.result, { status: 'ok', result: 'drained' });
  const [code] = (await once(instances[1]!.process, 'exit')) as [number | null];
  t.is(code, 0);
  t.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${drainedOwner}`] } }), []);
});
