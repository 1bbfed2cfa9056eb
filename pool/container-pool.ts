import { setTimeout as delay } from 'node:timers/promises';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { createPool, type Pool } from 'generic-pool';
import type { ContainerSpec } from './create-container.js';
import { AbortError, QueueFullError, QueueTimeoutError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { ioDirFor, WarmContainer } from './warm-container.js';

const log = debuglog('warmbox');

// Backoff between attempts to start a replacement container: 100 ms, doubling, at most 10 s.
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;

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

/** What the pool tells its owner about its containers. */
export interface PoolListener {
  /** A container is warm: its agent is ready for a job. */
  warm(containerId: string): void;
  /** A container has been removed. */
  removed(containerId: string): void;
  /** A replacement container failed to start; it will be tried again after `retryInMs`. */
  startFailed(error: unknown, retryInMs: number): void;
}

/**
 * The warm containers, kept by generic-pool at `poolSize`, hidden behind names of our own.
 *
 * Every lease ends in `retire` (generic-pool's destroy), never in release, so no container
 * ever runs a second job; generic-pool starts the replacement at once. generic-pool has two
 * traps this class closes: a failing `create` would be retried by it in a tight loop, and a
 * lost slot would never come back, so `create` retries by itself with backoff; and `acquire`
 * waits forever unless given a timeout, so it always has one.
 */
export class ContainerPool {
  readonly #pool: Pool<WarmContainer>;
  readonly #docker: Docker;
  readonly #options: ResolvedOptions;
  readonly #image: string;
  readonly #poolId: string;
  readonly #ioRoot: string;
  readonly #stopCreating = new AbortController();
  #nextIndex = 0;
  #starting = 0;
  #startSlots: number;
  readonly #slotWaiters: Array<() => void> = [];
  #everReady = false;
  // Set while start() fills the pool.
  #onReady: (() => void) | undefined;
  #firstStartFailure: ((error: unknown) => void) | undefined;
  readonly #listener: PoolListener;

  constructor(
    docker: Docker,
    options: ResolvedOptions,
    image: string,
    poolId: string,
    ioRoot: string,
    listener: PoolListener,
  ) {
    this.#docker = docker;
    this.#listener = listener;
    this.#options = options;
    this.#image = image;
    this.#poolId = poolId;
    this.#ioRoot = ioRoot;
    this.#startSlots = options.startConcurrency;
    this.#pool = createPool<WarmContainer>(
      {
        create: () => this.#create(),
        destroy: (container) => this.#remove(container),
      },
      {
        min: options.poolSize,
        max: options.poolSize,
        // acquire() checks each container itself: generic-pool's testOnBorrow is
        // asynchronous, and would count a job as waiting while a warm container is tested.
        acquireTimeoutMillis: options.queueTimeoutMs,
        autostart: false,
        fifo: true,
      },
    );
    this.#pool.on('factoryCreateError', (error) => log('a container failed to start: %o', error));
    this.#pool.on('factoryDestroyError', (error) => log('a container failed to be removed: %o', error));
  }

  /** Fills the pool; resolves when `poolSize` containers are warm, rejects if the first start fails. */
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

  /** Waits for a warm container, within `maxQueue` and `queueTimeoutMs`. */
  async acquire(signal: AbortSignal | undefined): Promise<WarmContainer> {
    if (this.#pool.available === 0 && this.#pool.pending >= this.#options.maxQueue) {
      throw new QueueFullError(this.#options.maxQueue);
    }
    for (;;) {
      const container = await this.#lease(signal);
      if (container.alive) return container;
      // It died while it waited (killed from outside): replace it and take another.
      this.retire(container);
    }
  }

  async #lease(signal: AbortSignal | undefined): Promise<WarmContainer> {
    if (signal?.aborted) throw new AbortError(signal.reason);
    const lease = this.#pool.acquire().catch((error: Error) => {
      throw error.name === 'TimeoutError' ? new QueueTimeoutError(this.#options.queueTimeoutMs) : error;
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
      // generic-pool cannot cancel a request: when it is served, the container goes back
      // unused. Releasing is safe here, and only here, because nothing ran in it.
      lease.then((container) => this.#pool.release(container), () => {});
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** Ends a lease: the container is removed in the background and a replacement starts now. */
  retire(container: WarmContainer): void {
    this.#pool.destroy(container).catch((error: unknown) => log('could not retire %s: %o', container.id, error));
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
   * container, including those still starting.
   */
  async close(): Promise<void> {
    await this.#pool.drain();
    this.#stopCreating.abort();
    await this.#pool.clear();
  }

  async #create(): Promise<WarmContainer> {
    for (let attempt = 0; ; attempt++) {
      try {
        const container = await this.#startOne();
        this.#everReady = true;
        this.#onReady?.();
        // After generic-pool has counted it as available (it does so in a promise callback
        // of its own), so that stats() agrees with the event.
        setImmediate(() => this.#listener.warm(container.id));
        container.onUnexpectedExit(() => this.#onContainerExit(container));
        return container;
      } catch (error) {
        // Before any container was ever ready, a failure means the image or the engine is
        // broken: initialize() says so rather than retrying forever.
        if (!this.#everReady) this.#firstStartFailure?.(error);
        if (!this.#everReady || this.#stopCreating.signal.aborted) throw error;
        const backoffMs = Math.min(BACKOFF_FIRST_MS * 2 ** attempt, BACKOFF_MAX_MS);
        log('a replacement container failed to start (attempt %d), next try in %d ms: %o', attempt + 1, backoffMs, error);
        this.#listener.startFailed(error, backoffMs);
        await delay(backoffMs, undefined, { signal: this.#stopCreating.signal }).catch(() => {});
        if (this.#stopCreating.signal.aborted) throw error;
      }
    }
  }

  /** Starts one container, at most `startConcurrency` at a time. */
  async #startOne(): Promise<WarmContainer> {
    if (this.#startSlots === 0) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    else this.#startSlots--;
    this.#starting++;
    try {
      const spec: ContainerSpec = {
        image: this.#image,
        poolId: this.#poolId,
        ioDir: ioDirFor(this.#ioRoot, this.#nextIndex++),
        options: this.#options,
      };
      return await WarmContainer.start(this.#docker, spec, this.#options.startupTimeoutMs);
    } finally {
      this.#starting--;
      const next = this.#slotWaiters.shift();
      if (next) next();
      else this.#startSlots++;
    }
  }

  async #remove(container: WarmContainer): Promise<void> {
    try {
      await container.remove();
      this.#listener.removed(container.id);
    } catch (error) {
      log('could not remove container %s: %o', container.id, error);
    }
  }

  /**
   * A container exited before it was retired: killed from outside. If it was waiting for a
   * job, sweep the idle containers now, so it is replaced before a job has to find out; if
   * it was running one, that job's result tells what happened and retire replaces it.
   */
  #onContainerExit(container: WarmContainer): void {
    if (this.#stopCreating.signal.aborted || this.#pool.isBorrowedResource(container)) return;
    // Take every idle container once through acquire(), which retires the dead one (so its
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
