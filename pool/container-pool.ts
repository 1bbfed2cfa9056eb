import { setTimeout as delay } from 'node:timers/promises';
import { debuglog } from 'node:util';
import { createPool, type Pool } from 'generic-pool';
import { backoffDelayMs, REPLACEMENT_BACKOFF, type Backoff } from './backoff.js';
import { AbortError, DockerError, PoolClosedError, QueueFullError, QueueTimeoutError } from '../contract/errors.js';
import { followAbort } from './follow-abort.js';
import { PoolSizer, type PoolTarget } from './pool-sizer.js';

const log = debuglog('warmbox');

/** One warm member of the pool: in warmbox, a started container whose agent waits for its one job. */
export interface PoolMember {
  readonly id: string;
  /** False once it has exited, for whatever reason. */
  readonly alive: boolean;
  /** Calls back once if it exits before `remove` was called: killed from outside. */
  onUnexpectedExit(listener: () => void): void;
  /** Removes it and everything it holds; idempotent. */
  remove(): Promise<void>;
}

/**
 * Starts one member and resolves once it is warm, or rejects (having cleaned up after
 * itself). `index` numbers the starts in the order they were asked for.
 */
export type StartMember<M extends PoolMember> = (index: number) => Promise<M>;

/** What the pool needs of the sandbox's options. */
export interface ContainerPoolOptions {
  /** The pool's minimum: what start() fills, and what it never goes below. */
  readonly poolSize: number;
  /**
   * The most members it holds (warm, busy and starting), growing when jobs wait or arrive
   * faster than members are replaced (PoolSizer). @default poolSize: a fixed pool
   */
  readonly maxPoolSize?: number;
  /** How long it must want fewer members than it has before it lets them go. @default 30000 */
  readonly shrinkAfterMs?: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly startConcurrency: number;
  /**
   * How many members may be held out of the pool at once (`acquire` with `holdOut`: a
   * session's container); a request past it waits in the queue, behind none of the others.
   * @default 0
   */
  readonly maxHeldOut?: number;
  /** @default REPLACEMENT_BACKOFF */
  readonly backoff?: Backoff;
  /**
   * Given why a start or a removal failed, a promise that resolves once that cause is gone
   * (the engine answers again), so the next try need not wait out its backoff; undefined
   * where the failure is of another kind. It must settle once `signal` aborts.
   */
  readonly recovery?: (error: unknown, signal: AbortSignal) => Promise<void> | undefined;
  /**
   * How long close() goes on trying to remove members that could not be removed (the engine
   * is down) before it gives up and rejects, naming them. @default 30000
   */
  readonly closeRetryMs?: number;
}

interface Waiter<M> {
  /** The member is to be held out of the pool (see ContainerPoolOptions.maxHeldOut). */
  readonly holdOut: boolean;
  resolve(member: M): void;
  reject(error: unknown): void;
  /** Clears the queue timeout and the abort listener. */
  stopWatching(): void;
}

/** A snapshot of the pool. */
export interface PoolStats {
  /** Containers started and ready for a job. */
  readonly warm: number;
  /** Containers running a job. */
  readonly busy: number;
  /** Containers being created and started. */
  readonly starting: number;
  /** Jobs, and sessions, waiting for a container. */
  readonly queued: number;
  /** Sessions open, each holding a container out of the pool (which started a replacement for it). */
  readonly sessions: number;
  /** The size the pool keeps now (warm, busy and starting), between its minimum and its maximum. */
  readonly target: number;
  /** Why the target is what it is: see ResizeReason. */
  readonly targetReason: PoolTarget['reason'];
}

/** What the pool tells its owner about its members. */
export interface PoolListener {
  /** A member is warm: ready for a job, `startMs` after its start began. */
  warm(id: string, startMs: number): void;
  /** A member has been removed. */
  removed(id: string): void;
  /** A replacement failed to start; it will be tried again after `retryInMs`. */
  startFailed(error: unknown, retryInMs: number): void;
  /** The size the pool keeps changed from `from` to `to.size`, for `to.reason`. */
  resized(from: number, to: PoolTarget): void;
}

/**
 * The warm members, kept by generic-pool, hidden behind names of our own, at the size a
 * PoolSizer wants between `poolSize` and `maxPoolSize`.
 *
 * generic-pool is given `maxPoolSize` as both its min and its max, so it always asks for a
 * member in every free slot; a start then waits (#admitStart) until the sizer's target has
 * room for it and no more than `startConcurrency` run. So the pool grows by letting starts
 * through, and shrinks by retiring idle members whose replacements then wait.
 *
 * Every lease ends in `retire` (generic-pool's destroy), never in release, so no container
 * ever runs a second job; generic-pool starts the replacement at once. generic-pool has two
 * traps this class closes: a failing `create` would be retried by it in a tight loop, and a
 * lost slot would never come back, so `create` retries by itself with backoff; and its queue
 * can neither cancel a request nor be emptied, so jobs wait in a queue of warmbox's own, with
 * its own timeout, aborts and `destroy()`. Its own errors never reach a caller: each becomes
 * a WarmboxError.
 *
 * How a member starts is the `startMember` function's business, which is what lets the
 * pool's logic be tested without Docker.
 */
export class ContainerPool<M extends PoolMember> {
  readonly #pool: Pool<M>;
  readonly #startMember: StartMember<M>;
  readonly #options: ContainerPoolOptions;
  readonly #listener: PoolListener;
  /** Members being started: admitted by #startsAllowed, and not yet warm or failed. */
  #starting = 0;
  /** Starts waiting for #admitStart to let them begin; rejected when the pool closes. */
  readonly #startWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  readonly #stopCreating = new AbortController();
  /** Aborted `closeRetryMs` into close(): a removal that still fails is given up. */
  readonly #stopRemoving = new AbortController();
  /** Members whose removal was given up, for close() to report. */
  readonly #notRemoved: { readonly id: string; readonly error: unknown }[] = [];
  #nextIndex = 0;
  readonly #sizer: PoolSizer;
  #target: PoolTarget;
  /** While the pool holds more than its minimum: the check that lets it shrink after a quiet period. */
  #shrinkTimer: NodeJS.Timeout | undefined;
  /** How often that check runs: a quarter of shrinkAfterMs, between 100 ms and a second. */
  readonly #shrinkCheckMs: number;
  /** Idle members taken from generic-pool to be retired, the pool being above its target. */
  #letGo = 0;
  /**
   * Members started and not yet removed (nor held out), counted here rather than read from
   * generic-pool, which counts a new member as available only a promise callback after its
   * start resolved: in between, a start would be let through for a slot that is taken.
   */
  #live = 0;
  #everReady = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #cleared = false;
  /**
   * Jobs waiting for a member, first come first served. warmbox's own queue, not generic-pool's:
   * generic-pool can neither cancel a request nor refuse its queue at once, so an aborted or
   * timed-out job would stay counted and be served later, and `destroy()` could not empty it.
   * generic-pool is asked only for a member it has idle, which it hands over at once.
   */
  readonly #waiters: Waiter<M>[] = [];
  /** Jobs taken from the queue whose member generic-pool is handing over. */
  #handing = 0;
  /** Members held out of the pool, and being handed over to be: at most maxHeldOut. */
  #heldOut = 0;
  /** Members generic-pool is told to destroy that are held out instead: not removed with it. */
  readonly #kept = new WeakSet<M>();
  #queueEmptied: (() => void) | undefined;
  // Set while start() fills the pool.
  #onReady: (() => void) | undefined;
  #firstStartFailure: ((error: unknown) => void) | undefined;

  constructor(startMember: StartMember<M>, options: ContainerPoolOptions, listener: PoolListener) {
    this.#startMember = startMember;
    this.#options = options;
    this.#listener = listener;
    const maxPoolSize = options.maxPoolSize ?? options.poolSize;
    const shrinkAfterMs = options.shrinkAfterMs ?? 30_000;
    this.#sizer = new PoolSizer({ min: options.poolSize, max: maxPoolSize, shrinkAfterMs });
    this.#shrinkCheckMs = Math.max(100, Math.min(1000, shrinkAfterMs / 4));
    this.#target = this.#sizer.target({ busy: 0, queued: 0 });
    this.#pool = createPool<M>(
      {
        create: () => this.#create(),
        // generic-pool lets go of it (retired, or held out): it no longer counts toward the target.
        destroy: (member) => {
          this.#live--;
          return this.#remove(member);
        },
      },
      {
        min: maxPoolSize,
        max: maxPoolSize,
        // A member is checked when it is handed out (#dispatch): generic-pool's testOnBorrow
        // is asynchronous, and would count a job as waiting while a warm member is tested.
        // No acquireTimeoutMillis: generic-pool is only asked for a member it has idle.
        autostart: false,
        fifo: true,
      },
    );
    this.#pool.on('factoryCreateError', (error) => log('a container failed to start: %o', error));
    this.#pool.on('factoryDestroyError', (error) => log('a container failed to be removed: %o', error));
  }

  /** Fills the pool; resolves when `poolSize` members are warm, rejects if the first start fails. */
  async start(): Promise<void> {
    const filled = new Promise<void>((resolve, reject) => {
      this.#firstStartFailure = reject;
      let ready = 0;
      this.#onReady = () => {
        if (++ready === this.#options.poolSize) resolve();
      };
    });
    this.#pool.start();
    try {
      await filled;
    } finally {
      this.#firstStartFailure = undefined;
      this.#onReady = undefined;
    }
  }

  /**
   * Waits for a live warm member, within `maxQueue` and `queueTimeoutMs`. With `holdOut`,
   * the member leaves the pool as it is handed over, and a replacement starts at once: the
   * caller holds it until `endHeldOut`, and no more than `maxHeldOut` are held at once.
   */
  acquire(signal: AbortSignal | undefined, { holdOut = false } = {}): Promise<M> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    if (this.#pool.available === 0 && this.#waiters.length >= this.#options.maxQueue) {
      return Promise.reject(new QueueFullError(this.#options.maxQueue));
    }
    this.#sizer.arrived();
    return new Promise<M>((resolve, reject) => {
      const onAbort = () => this.#leave(waiter, new AbortError(signal!.reason));
      const timer = setTimeout(() => this.#leave(waiter, new QueueTimeoutError(this.#options.queueTimeoutMs)), this.#options.queueTimeoutMs);
      const waiter: Waiter<M> = {
        holdOut,
        resolve,
        reject,
        stopWatching: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#dispatch();
      this.#resize();
    });
  }

  /**
   * Asks the sizer what the pool should hold now, says so when it changed, lets waiting starts
   * through up to it, and retires idle members above it.
   */
  #resize(): void {
    if (this.#closed) return;
    // Jobs being handed an idle member (#handing) are served already: only those waiting count.
    const target = this.#sizer.target({ busy: this.#pool.borrowed - this.#letGo, queued: this.#waiters.length });
    // The sizer hands back a new target only when the size changes.
    if (target !== this.#target) {
      const from = this.#target.size;
      this.#target = target;
      this.#listener.resized(from, target);
    }
    this.#pokeStarts();
    // Idle members above the target go: each is taken from generic-pool (which hands an idle
    // one over at once) and retired, and its replacement waits in #admitStart. Members still
    // starting are not counted against the warm ones: a warm member is not let go for one that
    // is not warm yet, which is let go in its turn once it is, if the pool still has too many.
    for (let extra = this.#live - this.#letGo - target.size; extra > 0 && this.#pool.available > 0 && this.#waiters.length === 0; extra--) {
      this.#letGo++;
      this.#pool.acquire().then(
        (idle) => {
          this.#letGo--;
          this.retire(idle);
        },
        () => this.#letGo--,
      );
    }
    this.#watchForQuiet();
  }

  /** While the target is above the minimum, the sizer is asked again now and then, so that a quiet pool shrinks. */
  #watchForQuiet(): void {
    const above = this.#target.size > this.#options.poolSize;
    if (above && this.#shrinkTimer === undefined) {
      this.#shrinkTimer = setInterval(() => this.#resize(), this.#shrinkCheckMs);
    } else if (!above && this.#shrinkTimer !== undefined) {
      clearInterval(this.#shrinkTimer);
      this.#shrinkTimer = undefined;
    }
  }

  /** Members warm, busy and admitted to start, less those being let go: what the target bounds. */
  #members(): number {
    return this.#live - this.#letGo + this.#starting;
  }

  /**
   * Hands idle members to waiting jobs, in order, for as long as there are both; a request
   * to hold one out waits while `maxHeldOut` are held, and the jobs behind it go first.
   */
  #dispatch(): void {
    for (let waiter = this.#nextServed(); waiter !== undefined && this.#pool.available > 0; waiter = this.#nextServed()) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      this.#handing++;
      if (waiter.holdOut) this.#heldOut++;
      // generic-pool takes an idle member out of `available` before this returns.
      this.#pool.acquire().then(
        (member) => {
          this.#handing--;
          if (member.alive) {
            waiter.stopWatching();
            if (waiter.holdOut) {
              // Out of the pool, which starts its replacement; the holder removes it (endHeldOut).
              this.#kept.add(member);
              this.retire(member);
            }
            waiter.resolve(member);
          } else {
            if (waiter.holdOut) this.#heldOut--;
            // It died while idle (killed from outside): replace it. The job waits on, unless
            // the pool is closing, when no replacement may come.
            this.retire(member);
            if (this.#closed) {
              waiter.stopWatching();
              waiter.reject(new PoolClosedError());
            } else {
              this.#waiters.unshift(waiter);
            }
          }
          this.#dispatch();
        },
        (error: unknown) => {
          this.#handing--;
          if (waiter.holdOut) this.#heldOut--;
          waiter.stopWatching();
          waiter.reject(this.#closed ? new PoolClosedError() : error);
          this.#dispatch();
        },
      );
    }
    this.#afterQueueChange();
  }

  /** The first waiter that may be served now. */
  #nextServed(): Waiter<M> | undefined {
    const canHoldOut = this.#heldOut < (this.#options.maxHeldOut ?? 0);
    return this.#waiters.find((waiter) => !waiter.holdOut || canHoldOut);
  }

  /** Removes a member held out of the pool, and lets another be held in its place. */
  async endHeldOut(member: M): Promise<void> {
    try {
      await this.#remove(member);
    } finally {
      this.#heldOut--;
      this.#dispatch();
    }
  }

  /** A waiting job leaves the queue unserved: timed out, aborted, or the pool destroyed. */
  #leave(waiter: Waiter<M>, error: Error): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    this.#waiters.splice(index, 1);
    waiter.stopWatching();
    waiter.reject(error);
    this.#afterQueueChange();
  }

  #afterQueueChange(): void {
    if (this.#waiters.length === 0 && this.#handing === 0) this.#queueEmptied?.();
  }

  /** Ends a lease: the member is removed in the background and a replacement starts, as far as the target has room. */
  retire(member: M): void {
    this.#pool.destroy(member).catch((error: unknown) => log('could not retire %s: %o', member.id, error));
    this.#resize();
  }

  stats(): PoolStats {
    return {
      // generic-pool's count of idle members outlives clear(): once closed, none is left.
      warm: this.#cleared ? 0 : this.#pool.available,
      busy: this.#pool.borrowed - this.#letGo,
      starting: this.#starting,
      queued: this.#waiters.length + this.#handing,
      sessions: this.#heldOut,
      target: this.#target.size,
      targetReason: this.#target.reason,
    };
  }

  /**
   * Waits for every lease to end (jobs already waiting still run), then removes every
   * member, including those still starting.
   */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#shrinkTimer);
    this.#closing ??= (async () => {
      if (this.#waiters.length + this.#handing > 0) await new Promise<void>((resolve) => (this.#queueEmptied = resolve));
      // Nothing waits any more, so no replacement is needed: one waiting out its backoff (the
      // engine is away) stops now rather than holding drain() up.
      this.#stopCreating.abort();
      for (const waiting of this.#startWaiters.splice(0)) waiting.reject(new PoolClosedError());
      await this.#pool.drain();
      const giveUp = setTimeout(() => this.#stopRemoving.abort(), this.#options.closeRetryMs ?? 30_000);
      try {
        await this.#pool.clear();
      } finally {
        clearTimeout(giveUp);
        this.#cleared = true;
      }
      if (this.#notRemoved.length > 0) {
        const ids = this.#notRemoved.map(({ id }) => id.slice(0, 12)).join(', ');
        throw new DockerError(
          `could not remove ${this.#notRemoved.length} container(s) before giving up: ${ids} (${(this.#notRemoved[0]!.error as Error).message}). ` +
            'The sweep of the next process to initialize() a Sandbox after this one exits removes them, or `docker rm -f` them.',
          { cause: this.#notRemoved[0]!.error },
        );
      }
    })();
    return this.#closing;
  }

  /**
   * Rejects every waiting job with PoolClosedError and fails a start() in progress; then, as
   * close() does, waits for the leases to end (the owner kills what runs) and removes every
   * member.
   */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) this.#leave(waiter, new PoolClosedError());
    this.#firstStartFailure?.(new PoolClosedError());
    await this.close();
  }

  async #create(): Promise<M> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#admitStart();
        const startedAt = performance.now();
        let member: M;
        try {
          member = await this.#startMember(this.#nextIndex++);
          this.#live++;
        } finally {
          this.#startDone();
        }
        const startMs = performance.now() - startedAt;
        this.#sizer.refilled(startMs);
        this.#everReady = true;
        this.#onReady?.();
        // After generic-pool has counted it as available (it does so in a promise callback
        // of its own), so that stats() agrees with the event.
        setImmediate(() => {
          this.#listener.warm(member.id, startMs);
          this.#dispatch();
          this.#resize();
        });
        member.onUnexpectedExit(() => this.#onMemberExit(member));
        return member;
      } catch (error) {
        // Before any member was ever ready, a failure means the image or the engine is
        // broken: initialize() says so rather than retrying forever.
        if (!this.#everReady) this.#firstStartFailure?.(error);
        if (!this.#everReady || this.#stopCreating.signal.aborted) throw error;
        const backoffMs = backoffDelayMs(attempt, this.#options.backoff ?? REPLACEMENT_BACKOFF);
        log('a replacement container failed to start (attempt %d), next try in %d ms: %o', attempt + 1, backoffMs, error);
        this.#listener.startFailed(error, backoffMs);
        // Once the engine is back, the backoff that grew while it was down is not waited out.
        if ((await this.#pause(error, backoffMs, this.#stopCreating.signal)) === 'recovered') attempt = -1;
        if (this.#stopCreating.signal.aborted) throw error;
      }
    }
  }

  /**
   * Waits until a start may begin: the target has room for another member, and at most
   * startConcurrency run at once. Rejects once the pool closes.
   */
  #admitStart(): Promise<void> {
    if (this.#stopCreating.signal.aborted) return Promise.reject(new PoolClosedError());
    if (this.#startWaiters.length === 0 && this.#mayStart()) {
      this.#starting++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.#startWaiters.push({ resolve, reject });
      this.#pokeStarts();
    });
  }

  #mayStart(): boolean {
    return this.#starting < this.#options.startConcurrency && this.#members() < this.#target.size;
  }

  /** Lets waiting starts begin, as far as the target and startConcurrency allow. */
  #pokeStarts(): void {
    while (this.#startWaiters.length > 0 && this.#mayStart()) {
      this.#starting++;
      this.#startWaiters.shift()!.resolve();
    }
  }

  #startDone(): void {
    this.#starting--;
    this.#pokeStarts();
  }

  /**
   * Removes a member, trying again while it fails (the engine is down or busy) for as long as
   * the pool is open, and `closeRetryMs` into close(); then gives up, for close() to report.
   */
  async #remove(member: M): Promise<void> {
    // Held out of the pool: its holder removes it, through endHeldOut.
    if (this.#kept.delete(member)) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await member.remove();
        this.#listener.removed(member.id);
        return;
      } catch (error) {
        log('could not remove container %s (attempt %d): %o', member.id, attempt + 1, error);
        if (this.#stopRemoving.signal.aborted) {
          this.#notRemoved.push({ id: member.id, error });
          return;
        }
        const backoffMs = backoffDelayMs(attempt, this.#options.backoff ?? REPLACEMENT_BACKOFF);
        if ((await this.#pause(error, backoffMs, this.#stopRemoving.signal)) === 'recovered') attempt = -1;
      }
    }
  }

  /**
   * Waits before another try: `backoffMs`, or less once `recovery` says the failure's cause
   * is gone, or until `stop` aborts.
   */
  async #pause(error: unknown, backoffMs: number, stop: AbortSignal): Promise<'waited' | 'recovered' | 'stopped'> {
    if (stop.aborted) return 'stopped';
    // Aborted when the pause ends, to end the wait that lost the race.
    const { controller, unfollow } = followAbort(stop);
    try {
      const waited = delay(backoffMs, 'waited' as const, { signal: controller.signal });
      const recovered = this.#options.recovery?.(error, controller.signal)?.then(() => 'recovered' as const);
      return await Promise.race(recovered === undefined ? [waited] : [waited, recovered]);
    } catch {
      return 'stopped';
    } finally {
      controller.abort();
      unfollow();
    }
  }

  /**
   * A member exited before it was retired: killed from outside. If it was waiting for a
   * job, sweep the idle members now, so it is replaced before a job has to find out; if it
   * was running one, that job's result tells what happened and retire replaces it.
   */
  #onMemberExit(member: M): void {
    if (this.#stopCreating.signal.aborted || this.#pool.isBorrowedResource(member)) return;
    // Take every idle member once from generic-pool (it hands idle ones over at once): the
    // dead one is retired, so its replacement starts, and live ones go straight back, which
    // is safe because nothing ran in them. Not through warmbox's queue, where these takes
    // would count as jobs waiting, and hold up a close() until they timed out.
    for (let i = this.#pool.available; i > 0; i--) {
      this.#pool.acquire().then(
        (idle) => {
          if (idle.alive) this.#pool.release(idle);
          else this.retire(idle);
          this.#dispatch();
        },
        () => {},
      );
    }
  }
}
