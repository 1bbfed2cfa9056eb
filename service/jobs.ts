/**
 * The jobs of one service: each run on the sandbox, counted in the metrics, logged, and
 * waited for by drain(), which takes no new ones. What the routes share.
 */
import type { FastifyBaseLogger } from 'fastify';
import { PoolClosedError, type Job, type PythonSandbox, type RunResult } from '../pool/index.js';
import type { ServiceMetrics } from './metrics.js';

export class ServiceJobs {
  readonly #running = new Set<Promise<unknown>>();
  #draining = false;

  constructor(
    readonly sandbox: PythonSandbox,
    readonly metrics: ServiceMetrics,
  ) {}

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Runs a job with `run` (by default the sandbox's; a route's adds its signal and listeners),
   * named in the log by `jobId`.
   */
  async run(log: FastifyBaseLogger, jobId: string, job: Job, run: (job: Job) => Promise<RunResult> = (job) => this.sandbox.run(job)): Promise<RunResult> {
    if (this.#draining) throw new PoolClosedError();
    const startedAt = performance.now();
    const pending = run(job);
    this.#running.add(pending);
    try {
      const result = await pending;
      const seconds = (performance.now() - startedAt) / 1000;
      this.metrics.job(result, seconds);
      log.info({ jobId, status: result.status, durationMs: Math.round(seconds * 1000), ...(result.egress.length > 0 ? { egress: result.egress } : {}) }, 'job');
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
