/**
 * The edges of the pool and the protocol, against the real engine: what another user's
 * crashed process leaves, stats while they move, and jobs and results at their size limits.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import test from 'ava';
import { agentImageTag } from '../../pool/image.js';
import { LABELS, MAX_JOB_BYTES } from '../../pool/index.js';
import { docker, openSandbox } from '../helpers/sandbox.js';

const MIB = 1024 * 1024;

test('an orphan whose socket directory cannot be removed -> initialize() works, the container is removed, the rest logged', async (t) => {
  // Another user's directory stands in as one made immutable: root cannot remove it either.
  const root = mkdtempSync(join(tmpdir(), 'warmbox-'));
  const ioDir = join(root, 'c0');
  mkdirSync(ioDir);
  writeFileSync(join(ioDir, 'agent.sock'), '');
  execFileSync('chattr', ['+i', ioDir]);
  t.teardown(() => {
    execFileSync('chattr', ['-i', ioDir]);
    rmSync(root, { recursive: true, force: true });
  });
  const orphan = await docker.createContainer({
    Image: agentImageTag()!,
    Labels: {
      [LABELS.managed]: 'true',
      [LABELS.pool]: 'orphan-of-another-user',
      // A process of this host that no longer exists.
      [LABELS.owner]: `${hostname()}:4194300:1`,
      [LABELS.ioDir]: ioDir,
    },
  });
  const sandbox = await openSandbox(t);
  t.like(await sandbox.run('result = 1'), { status: 'ok', result: 1 });
  await t.throwsAsync(docker.getContainer(orphan.id).inspect(), { message: /no such container/i });
  t.true(existsSync(ioDir));
});

test('stats() counts starting, warm, busy and queued while each is non-zero', async (t) => {
  const sandbox = await openSandbox(t, { poolSize: 2 });
  t.deepEqual(sandbox.stats(), { warm: 2, busy: 0, starting: 0, queued: 0 });
  // Two jobs that run until the test aborts them, and a third that queues behind them.
  const controllers = [new AbortController(), new AbortController()];
  const busy = controllers.map((c) =>
    sandbox.run({ code: 'import time\ntime.sleep(60)', timeoutMs: 60_000, signal: c.signal }).catch((error: Error) => error),
  );
  const queued = sandbox.run('result = "queued"');
  await new Promise(setImmediate);
  t.deepEqual(sandbox.stats(), { warm: 0, busy: 2, starting: 0, queued: 1 });
  for (const c of controllers) c.abort();
  t.true((await Promise.all(busy)).every((e) => (e as { code?: string }).code === 'WARMBOX_ERR_ABORTED'));
  // Both retired; their replacements start at once, and the queued job waits for one.
  t.like(sandbox.stats(), { warm: 0, busy: 0, starting: 2, queued: 1 });
  t.like(await queued, { status: 'ok', result: 'queued' });
  while (sandbox.stats().warm < 2) await once(sandbox, 'warm');
  t.deepEqual(sandbox.stats(), { warm: 2, busy: 0, starting: 0, queued: 0 });
});

test.serial('output at maxOutputBytes on both streams and a large result just before the limit -> back as it was, not a timeout', async (t) => {
  const maxOutputBytes = 96 * MIB;
  const sandbox = await openSandbox(t, { memoryLimitMb: 3072, maxOutputBytes });
  const r = await sandbox.run({
    code: `
import sys, time
start = time.monotonic()
out, err, big = "o" * ${maxOutputBytes}, "e" * ${maxOutputBytes}, "r" * (60 << 20)
time.sleep(max(0, 2.5 - (time.monotonic() - start)))
sys.stdout.write(out)
sys.stderr.write(err)
result = big`,
    // Room for 250 MB to cross the pipes on a loaded machine: what is tested is that all of
    // it comes back, not how fast.
    timeoutMs: 10_000,
  });
  t.like(r, { status: 'ok', timedOut: false, outputTruncated: false, error: null });
  t.is(r.stdout.length, maxOutputBytes);
  t.is(r.stderr.length, maxOutputBytes);
  t.is((r.result as string).length, 60 * MIB);
});

test.serial('a job of MAX_JOB_BYTES full of characters JSON escapes -> memory at the default limit, and runs given the memory', async (t) => {
  // Code counts one byte per control character and crosses as six: the worst case there is.
  const padding = '\u0001'.repeat(MAX_JOB_BYTES - 200);
  const job = { code: `# ${padding}\nresult = len(open(__file__).read()) if "__file__" in globals() else 0\nprint("ran")`, timeoutMs: 60_000 };
  t.true(Buffer.byteLength(job.code) <= MAX_JOB_BYTES);
  const small = await openSandbox(t);
  t.like(await small.run(job), { status: 'memory', memoryExceeded: true });
  const big = await openSandbox(t, { memoryLimitMb: 4096 });
  t.like(await big.run(job), { status: 'ok', stdout: 'ran\n' });
  await t.throwsAsync(big.run({ code: `${padding}${'x'.repeat(201)}` }), { code: 'WARMBOX_ERR_INVALID_ARGUMENT', message: /job carries/ });
});

test.serial('a result right at its limit -> memory at the default limit, ok given the memory; one byte over -> ResultError', async (t) => {
  // The report is the error line ("null\n"), the result, the figures line ([]) and the exit line ({"exit": 0}\n).
  const room = 64 * MIB - 'null\n'.length - '\n[]\n{"exit": 0}\n'.length - 2;
  const small = await openSandbox(t);
  t.like(await small.run(`result = "r" * ${room}`), { status: 'memory', memoryExceeded: true });
  const big = await openSandbox(t, { memoryLimitMb: 1024 });
  const r = await big.run(`result = "r" * ${room}`);
  t.like(r, { status: 'ok', error: null });
  t.is((r.result as string).length, room);
  const over = await big.run(`result = "r" * ${room + 1}`);
  t.like(over, { status: 'error', result: null });
  t.is(over.error?.type, 'ResultError');
});
