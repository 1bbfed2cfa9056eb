import { setTimeout as delay } from 'node:timers/promises';
import { debuglog } from 'node:util';
import { createPool, type Pool } from 'generic-pool';
import { backoffDelayMs, REPLACEMENT_BACKOFF, type Backoff } from './backoff.js';
import { AbortError, PoolClosedError, QueueFullError, QueueTimeoutError } from './errors.js';
import { Semaphore } from './semaphore.js';

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
  readonly poolSize: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly startConcurrency: number;
  /** @default REPLACEMENT_BACKOFF */
  readonly backoff?: Backoff;
}

/** A snapshot of the pool. */
export interface PoolStats {
  /** Containers started and ready for a job. */
  readonly warm: number;
  /** Containers running a job. */
  readonly busy: number;
  /** Containers being created and started. */
  readonly starting: number;
  /** Jobs waiting for a container. */
  readonly queued: number;
}

/** What the pool tells its owner about its members. */
export interface PoolListener {
  /** A member is warm: ready for a job, `startMs` after its start began. */
  warm(id: string, startMs: number): void;
  /** A member has been removed. */
  removed(id: string): void;
  /** A replacement failed to start; it will be tried again after `retryInMs`. */
  startFailed(error: unknown, retryInMs: number): void;
}

/**
 * The warm members, kept by generic-pool at `poolSize`, hidden behind names of our own.
 *
 * Every lease ends in `retire` (generic-pool's destroy), never in release, so no container
 * ever runs a second job; generic-pool starts the replacement at once. generic-pool has two
 * traps this class closes: a failing `create` would be retried by it in a tight loop, and a
 * lost slot would never come back, so `create` retries by itself with backoff; and `acquire`
 * waits forever unless given a timeout, so it always has one. Its own errors never reach a
 * caller: each becomes a WarmboxError.
 *
 * How a member starts is the `startMember` function's business, which is what lets the
 * pool's logic be tested without Docker.
 */
export class ContainerPool<M extends PoolMember> {
  readonly #pool: Pool<M>;
  readonly #startMember: StartMember<M>;
  readonly #options: ContainerPoolOptions;
  readonly #listener: PoolListener;
  readonly #startSlots: Semaphore;
  readonly #stopCreating = new AbortController();
  #nextIndex = 0;
  #starting = 0;
  #everReady = false;
  #closed = false;
  // Set while start() fills the pool.
  #onReady: (() => void) | undefined;
  #firstStartFailure: ((error: unknown) => void) | undefined;

  constructor(startMember: StartMember<M>, options: ContainerPoolOptions, listener: PoolListener) {
    this.#startMember = startMember;
    this.#options = options;
    this.#listener = listener;
    this.#startSlots = new Semaphore(options.startConcurrency);
    this.#pool = createPool<M>(
      {
        create: () => this.#create(),
        destroy: (member) => this.#remove(member),
      },
      {
        min: options.poolSize,
        max: options.poolSize,
        // acquire() checks each member itself: generic-pool's testOnBorrow is asynchronous,
        // and would count a job as waiting while a warm member is tested.
        acquireTimeoutMillis: options.queueTimeoutMs,
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

  /** Waits for a live warm member, within `maxQueue` and `queueTimeoutMs`. */
  async acquire(signal: AbortSignal | undefined): Promise<M> {
    if (this.#closed) throw new PoolClosedError();
    if (this.#pool.available === 0 && this.#pool.pending >= this.#options.maxQueue) {
      throw new QueueFullError(this.#options.maxQueue);
    }
    for (;;) {
      const member = await this.#lease(signal);
      if (member.alive) return member;
      // It died while it waited (killed from outside): replace it and take another.
      this.retire(member);
    }
  }

  async #lease(signal: AbortSignal | undefined): Promise<M> {
    if (signal?.aborted) throw new AbortError(signal.reason);
    const lease = this.#pool.acquire().catch((error: Error) => {
      if (error.name === 'TimeoutError') throw new QueueTimeoutError(this.#options.queueTimeoutMs);
      // generic-pool's "pool is draining and cannot accept work".
      if (this.#closed) throw new PoolClosedError();
      throw error;
    });
    if (signal === undefined) return lease;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new AbortError(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([lease, aborted]);
    } catch (error) {
      // generic-pool cannot cancel a request: when it is served, the member goes back
      // unused. Releasing is safe here, and only here, because nothing ran in it.
      lease.then((member) => this.#pool.release(member), () => {});
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** Ends a lease: the member is removed in the background and a replacement starts now. */
  retire(member: M): void {
    this.#pool.destroy(member).catch((error: unknown) => log('could not retire %s: %o', member.id, error));
  }

  stats(): PoolStats {
    return {
      warm: this.#pool.available,
      busy: this.#pool.borrowed,
      starting: this.#starting,
      queued: this.#pool.pending,
    };
  }

  /**
   * Waits for every lease to end (jobs already waiting still run), then removes every
   * member, including those still starting.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.drain();
    this.#stopCreating.abort();
    await this.#pool.clear();
  }

  async #create(): Promise<M> {
    for (let attempt = 0; ; attempt++) {
      try {
        let startedAt = 0;
        const member = await this.#startSlots.use(() => {
          startedAt = performance.now();
          return this.#startOne();
        });
        const startMs = performance.now() - startedAt;
        this.#everReady = true;
        this.#onReady?.();
        // After generic-pool has counted it as available (it does so in a promise callback
        // of its own), so that stats() agrees with the event.
        setImmediate(() => this.#listener.warm(member.id, startMs));
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
        await delay(backoffMs, undefined, { signal: this.#stopCreating.signal }).catch(() => {});
        if (this.#stopCreating.signal.aborted) throw error;
      }
    }
  }

  async #startOne(): Promise<M> {
    this.#starting++;
    try {
      return await this.#startMember(this.#nextIndex++);
    } finally {
      this.#starting--;
    }
  }

  async #remove(member: M): Promise<void> {
    try {
      await member.remove();
      this.#listener.removed(member.id);
    } catch (error) {
      log('could not remove container %s: %o', member.id, error);
    }
  }

  /**
   * A member exited before it was retired: killed from outside. If it was waiting for a
   * job, sweep the idle members now, so it is replaced before a job has to find out; if it
   * was running one, that job's result tells what happened and retire replaces it.
   */
  #onMemberExit(member: M): void {
    if (this.#stopCreating.signal.aborted || this.#pool.isBorrowedResource(member)) return;
    // Take every idle member once through acquire(), which retires the dead one (so its
    // replacement starts) and hands back live ones; those go straight back. Releasing is
    // safe here, because nothing ran in them.
    for (let i = this.#pool.available; i > 0; i--) {
      this.acquire(undefined).then(
        (live) => this.#pool.release(live),
        () => {},
      );
    }
  }
}
