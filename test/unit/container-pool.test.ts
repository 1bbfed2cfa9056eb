/**
 * ContainerPool's own logic, with fake members in place of containers: queueing, aborts,
 * backoff, start concurrency, the dead-member sweep and closing. What crosses into Docker is
 * tested against the real engine in test/integration/pool.test.ts.
 */
import { once, EventEmitter } from 'node:events';
import test from 'ava';
import { ContainerPool, type ContainerPoolOptions, type PoolListener, type PoolMember } from '../../pool/container-pool.js';
import { WarmboxError } from '../../contract/errors.js';

class FakeMember implements PoolMember {
  alive = true;
  removed = false;
  readonly #exitListeners: Array<() => void> = [];
  constructor(readonly id: string) {}
  onUnexpectedExit(listener: () => void): void {
    this.#exitListeners.push(listener);
  }
  /** Killed from outside. */
  die(): void {
    this.alive = false;
    if (!this.removed) for (const listener of this.#exitListeners) listener();
  }
  async remove(): Promise<void> {
    this.removed = true;
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A pool of fake members, its events, and every member it ever started. */
function fakePool(options: Partial<ContainerPoolOptions> = {}, start?: (index: number) => Promise<FakeMember>) {
  const members: FakeMember[] = [];
  const events = new EventEmitter();
  const listener: PoolListener = {
    warm: (id) => events.emit('warm', id),
    removed: (id) => events.emit('removed', id),
    startFailed: (error, retryInMs) => events.emit('startFailed', error, retryInMs),
    resized: (from, to) => events.emit('resized', from, to.size, to.reason),
  };
  const startMember = async (index: number) => {
    const member = start ? await start(index) : new FakeMember(`m${index}`);
    members.push(member);
    return member;
  };
  const pool = new ContainerPool(
    startMember,
    { poolSize: 1, maxQueue: 10, queueTimeoutMs: 10_000, startConcurrency: 2, backoff: { firstMs: 1, maxMs: 4 }, ...options },
    listener,
  );
  return { pool, members, events };
}

test('a job waits for a busy pool, and is served by the replacement of the member retired before it', async (t) => {
  const { pool, events } = fakePool({ poolSize: 1 });
  await pool.start();
  t.like(pool.stats(), { warm: 1, busy: 0, queued: 0 });
  const first = await pool.acquire(undefined);
  t.like(pool.stats(), { warm: 0, busy: 1 });
  const second = pool.acquire(undefined);
  await new Promise(setImmediate);
  t.like(pool.stats(), { busy: 1, queued: 1 });
  const warmed = once(events, 'warm');
  pool.retire(first);
  const next = await second;
  t.not(next.id, first.id);
  t.true((first as FakeMember).removed);
  await warmed;
  t.like(pool.stats(), { warm: 0, busy: 1, queued: 0 });
  pool.retire(next);
  await pool.close();
});

test('maxQueue waiting -> QueueFullError; a wait past queueTimeoutMs -> QueueTimeoutError', async (t) => {
  const { pool } = fakePool({ poolSize: 1, maxQueue: 1, queueTimeoutMs: 20 });
  await pool.start();
  const busy = await pool.acquire(undefined);
  const waiting = pool.acquire(undefined);
  await t.throwsAsync(pool.acquire(undefined), { code: 'WARMBOX_ERR_QUEUE_FULL' });
  await t.throwsAsync(waiting, { code: 'WARMBOX_ERR_QUEUE_TIMEOUT' });
  pool.retire(busy);
  await pool.close();
});

test('abort while queued -> AbortError with the reason; the member it would have had is not lost', async (t) => {
  const { pool } = fakePool({ poolSize: 1 });
  await pool.start();
  const busy = await pool.acquire(undefined);
  const controller = new AbortController();
  const waiting = pool.acquire(controller.signal);
  controller.abort(new Error('gone'));
  const error = await t.throwsAsync(waiting, { code: 'WARMBOX_ERR_ABORTED' });
  t.is((error!.cause as Error).message, 'gone');
  pool.retire(busy);
  // The replacement served the aborted request and went back: the next job gets it.
  const next = await pool.acquire(undefined);
  t.true(next.alive);
  t.like(pool.stats(), { busy: 1, queued: 0 });
  await t.throwsAsync(pool.acquire(AbortSignal.abort()), { code: 'WARMBOX_ERR_ABORTED' });
  pool.retire(next);
  await pool.close();
});

test('a replacement that fails to start is retried with doubling backoff, capped, until it starts', async (t) => {
  let failures = 0;
  const { pool, events } = fakePool({ poolSize: 1, backoff: { firstMs: 1, maxMs: 4 } }, async (index) => {
    if (index > 0 && failures < 4) {
      failures++;
      throw new Error(`start ${index} failed`);
    }
    return new FakeMember(`m${index}`);
  });
  await pool.start();
  const delays: number[] = [];
  events.on('startFailed', (_error: Error, retryInMs: number) => delays.push(retryInMs));
  pool.retire(await pool.acquire(undefined));
  const next = await pool.acquire(undefined);
  t.is(next.id, 'm5');
  t.deepEqual(delays, [1, 2, 4, 4]);
  pool.retire(next);
  await pool.close();
});

test('the first start failing -> start() rejects with its error, without retrying forever', async (t) => {
  let attempts = 0;
  const { pool } = fakePool({ poolSize: 2 }, async () => {
    attempts++;
    throw new WarmboxError('the image is broken');
  });
  await t.throwsAsync(pool.start(), { message: 'the image is broken' });
  await pool.close();
  t.true(attempts <= 2, `${attempts} attempts`);
});

/** Starts that each wait for the test to open their gate (where `gated` says), counting how many run at once. */
function gatedStarts(gated: (index: number) => boolean = () => true) {
  const gates: Array<Deferred<void>> = [];
  const counts = { inFlight: 0, most: 0 };
  const start = async (index: number) => {
    if (gated(index)) {
      counts.inFlight++;
      counts.most = Math.max(counts.most, counts.inFlight);
      const gate = deferred<void>();
      gates.push(gate);
      await gate.promise;
      counts.inFlight--;
    }
    return new FakeMember(`m${index}`);
  };
  return { gates, counts, start };
}

test('no more than startConcurrency members start at once', async (t) => {
  const { gates, counts, start } = gatedStarts();
  const { pool } = fakePool({ poolSize: 5, startConcurrency: 2 }, start);
  const started = pool.start();
  // Open the gates one at a time, as each start is reached.
  for (let opened = 0; opened < 5; opened++) {
    while (gates.length <= opened) await new Promise(setImmediate);
    t.like(pool.stats(), { starting: 2 - (opened >= 4 ? 1 : 0) });
    gates[opened]!.resolve();
  }
  await started;
  t.is(counts.most, 2);
  t.like(pool.stats(), { warm: 5, starting: 0 });
  await pool.close();
});

test('a member that dies while idle is replaced before a job finds it', async (t) => {
  const { pool, members, events } = fakePool({ poolSize: 2 });
  await pool.start();
  const warmed = once(events, 'warm');
  members[0]!.die();
  await warmed;
  t.true(members[0]!.removed);
  const a = await pool.acquire(undefined);
  const b = await pool.acquire(undefined);
  t.true(a.alive && b.alive);
  t.deepEqual([a.id, b.id].sort(), ['m1', 'm2']);
  pool.retire(a);
  pool.retire(b);
  await pool.close();
});

test('a dead member handed to a job while the pool closes -> PoolClosedError, a WarmboxError', async (t) => {
  // The replacement is dead when the waiting job gets it, and no other may start any more.
  const { pool, members } = fakePool({ poolSize: 1 }, async (index) => {
    const member = new FakeMember(`m${index}`);
    member.alive = index === 0;
    return member;
  });
  await pool.start();
  const busy = await pool.acquire(undefined);
  const waiting = pool.acquire(undefined);
  const closed = pool.close();
  pool.retire(busy);
  const error = await t.throwsAsync(waiting, { code: 'WARMBOX_ERR_POOL_CLOSED' });
  t.true(error instanceof WarmboxError);
  await closed;
  // The dead one's replacement had started before close() stopped creating; it goes too.
  t.is(members.length, 3);
  t.true(members.every((m) => m.removed));
  await t.throwsAsync(pool.acquire(undefined), { code: 'WARMBOX_ERR_POOL_CLOSED' });
});

test('close() while members start -> each is removed once started, none left', async (t) => {
  const gates: Array<Deferred<void>> = [];
  const { pool, members } = fakePool({ poolSize: 3, startConcurrency: 3 }, async (index) => {
    const gate = deferred<void>();
    gates.push(gate);
    await gate.promise;
    return new FakeMember(`m${index}`);
  });
  const started = pool.start();
  while (gates.length < 3) await new Promise(setImmediate);
  const closed = pool.close();
  for (const gate of gates) gate.resolve();
  await Promise.all([started.catch(() => {}), closed]);
  t.is(members.length, 3);
  t.true(members.every((m) => m.removed));
});

test('jobs aborted at random moments while queued -> each rejects at once, the queue counts none of them, the rest are served', async (t) => {
  const { pool, members } = fakePool({ poolSize: 2, maxQueue: 1000 });
  await pool.start();
  const leases = [await pool.acquire(undefined), await pool.acquire(undefined)];
  const controllers = Array.from({ length: 100 }, () => new AbortController());
  // A served job gives its member back at once, which starts its replacement.
  const waiting = controllers.map((c) =>
    pool.acquire(c.signal).then(
      (member) => {
        pool.retire(member);
        return 'served';
      },
      (error: Error & { code?: string }) => error.code,
    ),
  );
  t.is(pool.stats().queued, 100);
  // Half are aborted, in a shuffled order, before any member is free.
  for (let i = 0; i < 100; i++) if (((i * 37) % 100) % 2 === 0) controllers[i]!.abort('gone');
  t.is(pool.stats().queued, 50);
  for (const lease of leases) pool.retire(lease);
  const outcomes = await Promise.all(waiting);
  t.deepEqual(
    { aborted: outcomes.filter((o) => o === 'WARMBOX_ERR_ABORTED').length, served: outcomes.filter((o) => o === 'served').length },
    { aborted: 50, served: 50 },
  );
  t.is(pool.stats().queued, 0);
  await pool.close();
  t.is(members.length, 2 + 50 + 2);
  t.true(members.every((m) => m.removed));
});

test('destroy() -> every waiting job rejects with PoolClosedError at once; once the leases end, every member is removed and stats() shows none', async (t) => {
  const { pool, members } = fakePool({ poolSize: 1 });
  await pool.start();
  const lease = await pool.acquire(undefined);
  const waiting = [pool.acquire(undefined), pool.acquire(undefined)];
  const destroyed = pool.destroy();
  for (const job of waiting) await t.throwsAsync(job, { code: 'WARMBOX_ERR_POOL_CLOSED' });
  t.is(pool.stats().queued, 0);
  pool.retire(lease);
  await destroyed;
  t.true(members.every((m) => m.removed));
  t.deepEqual(pool.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0, target: 1, targetReason: 'minimum' });
});

test('a replacement failing while its cause is away does not wait out its backoff: it starts as soon as recovery says the cause is back', async (t) => {
  const engineDown = new Error('engine away');
  let down = true;
  const back = deferred<void>();
  const recoveries: unknown[] = [];
  // A backoff no test could wait out: only recovery can start the replacement.
  const { pool, events } = fakePool(
    {
      poolSize: 1,
      backoff: { firstMs: 3_600_000, maxMs: 3_600_000 },
      recovery: (error, signal) => {
        recoveries.push(error);
        signal.addEventListener('abort', () => back.reject(signal.reason));
        return back.promise;
      },
    },
    async (index) => {
      if (index > 0 && down) throw engineDown;
      return new FakeMember(`m${index}`);
    },
  );
  await pool.start();
  const failed = once(events, 'startFailed');
  pool.retire(await pool.acquire(undefined));
  await failed;
  t.deepEqual(recoveries, [engineDown]);
  down = false;
  back.resolve();
  const next = await pool.acquire(undefined);
  t.is(next.id, 'm2');
  pool.retire(next);
  await pool.close();
});

test('a member whose removal fails is tried again; one still failing closeRetryMs into close() -> close() rejects with DockerError naming it', async (t) => {
  class StuckMember extends FakeMember {
    attempts = 0;
    override async remove(): Promise<void> {
      this.attempts++;
      throw new Error('engine away');
    }
  }
  const stuck = new StuckMember('stuck-member-1');
  const { pool } = fakePool({ poolSize: 1, backoff: { firstMs: 1, maxMs: 4 }, closeRetryMs: 50 }, async (index) => (index === 0 ? stuck : new FakeMember(`m${index}`)));
  await pool.start();
  pool.retire(await pool.acquire(undefined));
  const error = await t.throwsAsync(pool.close(), { code: 'WARMBOX_ERR_DOCKER' });
  t.regex(error!.message, /could not remove 1 container\(s\) before giving up: stuck-member/);
  t.true(stuck.attempts > 1);
  t.deepEqual(pool.stats(), { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0, target: 1, targetReason: 'minimum' });
});

test('holdOut: the member leaves the pool, which starts its replacement; retire never removes it, endHeldOut does', async (t) => {
  const { pool, members, events } = fakePool({ poolSize: 1, maxHeldOut: 2 });
  await pool.start();
  const held = await pool.acquire(undefined, { holdOut: true });
  await once(events, 'warm');
  t.is(members.length, 2, 'a replacement started for the held member');
  t.like(pool.stats(), { warm: 1, busy: 0, sessions: 1 });
  t.false(held.removed);
  // A job takes the replacement, not the held member.
  const job = await pool.acquire(undefined);
  t.not(job, held);
  pool.retire(job);
  await once(events, 'removed');
  t.false(held.removed);
  await pool.endHeldOut(held as FakeMember);
  t.true(held.removed);
  t.like(pool.stats(), { sessions: 0 });
  await pool.close();
});

test('maxHeldOut: a request past it waits in the queue while the jobs behind it are served, and is served once one is ended', async (t) => {
  const { pool, events } = fakePool({ poolSize: 1, maxHeldOut: 1 });
  await pool.start();
  const first = await pool.acquire(undefined, { holdOut: true });
  await once(events, 'warm');
  let secondServed = false;
  const second = pool.acquire(undefined, { holdOut: true }).then((member) => ((secondServed = true), member));
  const job = await pool.acquire(undefined);
  t.false(secondServed, 'the job behind the waiting session went first');
  t.like(pool.stats(), { queued: 1, sessions: 1 });
  pool.retire(job);
  await once(events, 'warm');
  t.false(secondServed, 'a warm member alone does not serve it past maxHeldOut');
  await pool.endHeldOut(first as FakeMember);
  const held = await second;
  t.true(secondServed);
  t.like(pool.stats(), { sessions: 1, queued: 0 });
  await pool.endHeldOut(held as FakeMember);
  await pool.close();
});

test('a request to hold out waits under queueTimeoutMs like a job', async (t) => {
  const { pool, events } = fakePool({ poolSize: 1, maxHeldOut: 1, queueTimeoutMs: 20 });
  await pool.start();
  const held = await pool.acquire(undefined, { holdOut: true });
  await once(events, 'warm');
  await t.throwsAsync(pool.acquire(undefined, { holdOut: true }), { code: 'WARMBOX_ERR_QUEUE_TIMEOUT' });
  t.like(pool.stats(), { queued: 0, sessions: 1 });
  await pool.endHeldOut(held as FakeMember);
  await pool.close();
});

/** Lets promise callbacks and setImmediate turns run until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise(setImmediate);
}

test('a pool that sizes itself: jobs waiting -> it grows to hold them, never past max nor more than startConcurrency starting; each job gets a member of its own', async (t) => {
  let gating = true;
  const { gates, counts, start } = gatedStarts((index) => index > 0 && gating);
  const { pool, members, events } = fakePool({ poolSize: 1, maxPoolSize: 4, startConcurrency: 2, maxQueue: 100 }, start);
  const resized: unknown[] = [];
  events.on('resized', (...args) => resized.push(args));
  await pool.start();
  t.like(pool.stats(), { warm: 1, target: 1, targetReason: 'minimum' });
  // Six jobs at once, each holding its member until the test ends it.
  const leases = Array.from({ length: 6 }, () => pool.acquire(undefined));
  await until(() => gates.length === 2);
  t.like(pool.stats(), { busy: 1, starting: 2, target: 4, targetReason: 'queue' });
  // It grew as the jobs came, for their arrivals and then for the queue, to its max.
  t.deepEqual(resized.map((event) => (event as unknown[]).slice(1)).at(-1), [4, 'queue']);
  t.true(resized.every((event) => ['queue', 'arrivals'].includes((event as unknown[])[2] as string)));
  // Three more start (the fourth member is the first): the target holds four in all.
  for (let opened = 0; opened < 3; opened++) {
    await until(() => gates.length > opened);
    gates[opened]!.resolve();
  }
  const held = await Promise.all(leases.slice(0, 4));
  t.like(pool.stats(), { busy: 4, starting: 0, queued: 2 });
  t.is(gates.length, 3, 'no fifth member while four are busy');
  for (const member of held) pool.retire(member);
  for (let opened = 3; opened < 5; opened++) {
    await until(() => gates.length > opened);
    gates[opened]!.resolve();
  }
  const rest = await Promise.all(leases.slice(4));
  for (const member of rest) pool.retire(member);
  t.is(counts.most, 2);
  const ids = [...held, ...rest].map((member) => member.id);
  t.is(new Set(ids).size, 6, 'no member served two jobs');
  t.true(members.length <= 6 + 4, `${members.length} members started`);
  // The replacements now starting may finish, for close() to remove them.
  gating = false;
  for (const gate of gates) gate.resolve();
  await pool.close();
});

test('a pool that sizes itself: after shrinkAfterMs of wanting fewer, idle members beyond the target are let go, down to the minimum', async (t) => {
  const { pool, events } = fakePool({ poolSize: 1, maxPoolSize: 5, shrinkAfterMs: 50, maxQueue: 100 });
  const resized: unknown[] = [];
  events.on('resized', (...args) => resized.push(args));
  await pool.start();
  const leases = await Promise.all(Array.from({ length: 5 }, () => pool.acquire(undefined)));
  for (const member of leases) pool.retire(member);
  await until(() => pool.stats().warm === 5);
  t.like(pool.stats(), { target: 5 });
  // Nothing more arrives: after the quiet period the pool goes back to its minimum.
  const shrunk = new Promise((resolve) => events.on('resized', (_from, to) => to === 1 && resolve(undefined)));
  await shrunk;
  await until(() => pool.stats().warm === 1);
  t.like(pool.stats(), { warm: 1, busy: 0, starting: 0, target: 1, targetReason: 'quiet' });
  t.deepEqual(resized.at(-1), [5, 1, 'quiet']);
  await pool.close();
});

test('a fixed pool (poolSize a number) never resizes', async (t) => {
  const { pool, events } = fakePool({ poolSize: 2, maxQueue: 100 });
  let resizes = 0;
  events.on('resized', () => resizes++);
  await pool.start();
  const leases = Array.from({ length: 6 }, () => pool.acquire(undefined));
  for (const lease of leases) pool.retire(await lease);
  await until(() => pool.stats().warm === 2);
  t.like(pool.stats(), { warm: 2, target: 2, targetReason: 'minimum' });
  t.is(resizes, 0);
  await pool.close();
});

test('a pool that sizes itself, shrinking while a member still starts -> keeps a warm one for it, and lets the surplus go once it is warm', async (t) => {
  // m0 is the first member, m1 to m3 the growth for four jobs, m4 to m7 their replacements:
  // the last of these hangs at its gate.
  const { gates, start } = gatedStarts((index) => index === 7);
  const { pool, events } = fakePool({ poolSize: 1, maxPoolSize: 4, shrinkAfterMs: 50, maxQueue: 100 }, start);
  await pool.start();
  const leases = await Promise.all(Array.from({ length: 4 }, () => pool.acquire(undefined)));
  for (const member of leases) pool.retire(member);
  await until(() => gates.length === 1 && pool.stats().warm === 3);
  t.like(pool.stats(), { starting: 1, target: 4 });
  // Nothing more comes: the target falls to 1 while one member is still starting.
  await new Promise((resolve) => events.on('resized', (_from, to) => to === 1 && resolve(undefined)));
  await until(() => pool.stats().warm === 1);
  t.like(pool.stats(), { warm: 1, starting: 1, target: 1 });
  for (const gate of gates) gate.resolve();
  await until(() => pool.stats().starting === 0 && pool.stats().warm === 1);
  t.like(pool.stats(), { warm: 1, busy: 0, starting: 0, target: 1 });
  await pool.close();
});
