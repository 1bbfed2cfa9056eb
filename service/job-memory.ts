/**
 * What the service remembers of jobs by their `id`, so that a client's retry of a job it
 * already sent never runs the program twice: while the first run goes on, a repeat waits for
 * it; after, a repeat gets its result, for `ttlMs` and among the last `max` ids. A run that
 * failed (the job was refused, or never got a container) is forgotten, so a retry may run it.
 *
 * Written here rather than taken from an LRU package: a Map in insertion order is the whole
 * of it, and the semantics (promises shared, rejections forgotten) are this service's.
 */
export class JobMemory<T> {
  readonly #entries = new Map<string, { readonly value: Promise<T>; readonly at: number }>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The first run's outcome for `id`, if remembered (`replayed`); else starts one and remembers it. */
  once(id: string, start: () => Promise<T>): { readonly value: Promise<T>; readonly replayed: boolean } {
    const now = this.now();
    const known = this.#entries.get(id);
    if (known !== undefined && now - known.at <= this.ttlMs) return { value: known.value, replayed: true };
    this.#entries.delete(id);
    const value = start();
    this.#entries.set(id, { value, at: now });
    value.catch(() => {
      if (this.#entries.get(id)?.value === value) this.#entries.delete(id);
    });
    // Oldest first: a Map iterates in insertion order.
    for (const [oldest] of this.#entries) {
      if (this.#entries.size <= this.max) break;
      this.#entries.delete(oldest);
    }
    return { value, replayed: false };
  }

  get size(): number {
    return this.#entries.size;
  }
}
