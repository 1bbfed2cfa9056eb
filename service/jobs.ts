/**
 * The jobs of one service: each run on the sandbox, counted in the metrics, logged, and
 * waited for by drain(), which takes no new ones. What the routes share.
 */
import type { FastifyBaseLogger } from 'fastify';
import { PoolClosedError, type Job, type RunResult, type Sandbox } from '../pool/index.js';
import { decodeJob, type WireJob } from '../wire/index.js';
import type { ServiceMetrics } from './metrics.js';

export class ServiceJobs {
  readonly #running = new Set<Promise<unknown>>();
  #draining = false;

  constructor(
    readonly sandbox: Sandbox,
    readonly metrics: ServiceMetrics,
  ) {}

  get draining(): boolean {
    return this.#draining;
  }

  /** Runs a job off the wire with `run` (the sandbox's run, with the route's signal and listeners). */
  async run(log: FastifyBaseLogger, requestId: string, wire: WireJob, run: (job: Job) => Promise<RunResult>): Promise<RunResult> {
    if (this.#draining) throw new PoolClosedError();
    const startedAt = performance.now();
    const pending = run(decodeJob(wire));
    this.#running.add(pending);
    try {
      const result = await pending;
      const seconds = (performance.now() - startedAt) / 1000;
      this.metrics.job(result.status, seconds);
      log.info({ jobId: wire.id ?? requestId, status: result.status, durationMs: Math.round(seconds * 1000) }, 'job');
      return result;
    } finally {
      this.#running.delete(pending);
    }
  }

  /** Takes no new jobs, and waits for those running. */
  async drain(): Promise<void> {
    this.#draining = true;
    await Promise.allSettled([...this.#running]);
  }
}
