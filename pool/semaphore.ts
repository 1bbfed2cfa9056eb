/**
 * A counting semaphore: at most `permits` holders at once, the rest served in arrival order.
 * Written here rather than taken from a package because it is a dozen lines and the pool
 * needs nothing more (no timeouts, no cancellation: the pool's own queue has those).
 */
export class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`permits must be a positive integer, got ${permits}`);
    this.#free = permits;
  }

  /** Runs `task` once a permit is free, and frees it when the task settles. */
  async use<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }

  /** Tasks waiting for a permit. */
  get waiting(): number {
    return this.#waiting.length;
  }
}
