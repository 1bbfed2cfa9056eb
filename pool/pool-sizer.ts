/**
 * How many containers a pool should hold, between its minimum and its maximum, from what it
 * sees: jobs waiting, containers running a job, and the rate jobs arrive at, against the
 * time a used container takes to be replaced.
 *
 * A container serves one job, so every job starts a refill that takes R (measured). Jobs that
 * arrive during it need warm containers of their own: at a rate λ, Poisson arrivals bring
 * λR of them on average, and rarely more than λR + 3√(λR) (under 0.5 % of refills at the
 * rates a pool serves). The pool wants that many warm, on top of those running a job and of
 * jobs already waiting. It grows at once; it shrinks only once it has wanted less than it has
 * for `shrinkAfterMs` (a quiet period), so that a lull between bursts does not throw away the
 * containers the next burst needs.
 */

/** Why a pool's target size is what it is. */
export type ResizeReason =
  /** Where it starts: the minimum. */
  | 'minimum'
  /** Jobs are waiting for a container. */
  | 'queue'
  /** Jobs arrive faster than containers are replaced. */
  | 'arrivals'
  /** It wanted fewer for a quiet period, and let the rest go. */
  | 'quiet';

export interface PoolTarget {
  readonly size: number;
  readonly reason: ResizeReason;
}

export interface PoolSizerOptions {
  readonly min: number;
  readonly max: number;
  /** How long the pool must want fewer containers than it has before it lets them go. */
  readonly shrinkAfterMs: number;
  /** The clock, in ms; `performance.now` outside tests. */
  readonly now?: () => number;
}

/** What the pool holds now, as the sizer weighs it. */
export interface PoolLoad {
  /** Containers running a job. */
  readonly busy: number;
  /** Jobs (and sessions) waiting for a container. */
  readonly queued: number;
}

// The rate is counted over this window, or over eight refills where they take longer: long
// enough to hold a few arrivals at the rates that matter, short enough to follow a change.
const RATE_WINDOW_MS = 10_000;
const REFILLS_PER_WINDOW = 8;
// Until a container has been measured: about what one takes to start on a busy small machine.
const FIRST_REFILL_MS = 1000;
// A new refill time counts this much in the running average.
const REFILL_WEIGHT = 0.2;
// Standard deviations of Poisson arrivals above their mean the warm containers cover.
const ARRIVAL_SPREAD = 3;

export class PoolSizer {
  readonly #options: PoolSizerOptions;
  readonly #now: () => number;
  /** When recent jobs arrived, oldest first, within the rate window. */
  readonly #arrivals: number[] = [];
  #refillMs = FIRST_REFILL_MS;
  #measured = false;
  #target: PoolTarget;
  /** The last time the pool wanted at least its current target. */
  #neededAt: number;

  constructor(options: PoolSizerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#target = { size: options.min, reason: 'minimum' };
    this.#neededAt = this.#now();
  }

  /** A job or a session asked for a container. */
  arrived(): void {
    this.#arrivals.push(this.#now());
  }

  /** A container became warm, `startMs` after its start began. */
  refilled(startMs: number): void {
    this.#refillMs = this.#measured ? this.#refillMs + REFILL_WEIGHT * (startMs - this.#refillMs) : startMs;
    this.#measured = true;
  }

  /** The measured time to replace a container, in ms. */
  get refillMs(): number {
    return this.#refillMs;
  }

  /** Jobs arriving per second, over the recent window. */
  arrivalRate(): number {
    const windowMs = Math.max(RATE_WINDOW_MS, REFILLS_PER_WINDOW * this.#refillMs);
    const since = this.#now() - windowMs;
    while (this.#arrivals.length > 0 && this.#arrivals[0]! < since) this.#arrivals.shift();
    return (this.#arrivals.length * 1000) / windowMs;
  }

  /** The size the pool should have now, and why; the same object until it changes. */
  target(load: PoolLoad): PoolTarget {
    const { min, max, shrinkAfterMs } = this.#options;
    const perRefill = (this.arrivalRate() * this.#refillMs) / 1000;
    const warmWanted = perRefill === 0 ? 0 : Math.ceil(perRefill + ARRIVAL_SPREAD * Math.sqrt(perRefill));
    const wanted = Math.min(max, Math.max(min, load.busy + load.queued + warmWanted));
    const now = this.#now();
    if (wanted >= this.#target.size) {
      this.#neededAt = now;
      if (wanted > this.#target.size) this.#target = { size: wanted, reason: load.queued > 0 ? 'queue' : 'arrivals' };
    } else if (now - this.#neededAt >= shrinkAfterMs) {
      this.#target = { size: wanted, reason: 'quiet' };
      this.#neededAt = now;
    }
    return this.#target;
  }
}
