/**
 * The service's Prometheus metrics (prom-client), in a registry of its own: jobs by status,
 * run durations, the queue, containers by state, start failures and start durations,
 * sessions open, their cells by status and their ends by reason, with
 * Node's process metrics beside them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PythonSandbox, RunResult, RunStatus } from '../pool/index.js';

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #jobs: Counter<'status'>;
  readonly #runSeconds: Histogram;
  readonly #cells: Counter<'status'>;
  readonly #sessionsEnded: Counter<'reason'>;
  readonly #egress: Counter<'decision' | 'reason'>;

  constructor(sandbox: PythonSandbox) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#jobs = new Counter({ name: 'warmbox_jobs_total', help: 'Jobs run, by how they ended', labelNames: ['status'], registers });
    this.#runSeconds = new Histogram({
      name: 'warmbox_run_duration_seconds',
      help: 'Time from a run request to its result, queueing included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const stats = () => sandbox.stats();
    new Gauge({ name: 'warmbox_queue_length', help: 'Jobs waiting for a container', registers, async collect() { this.set((await stats()).queued); } });
    new Gauge({
      name: 'warmbox_containers',
      help: 'Containers by state: warm (ready for a job), busy (running one), starting',
      labelNames: ['state'],
      registers,
      async collect() {
        const { warm, busy, starting } = await stats();
        this.set({ state: 'warm' }, warm);
        this.set({ state: 'busy' }, busy);
        this.set({ state: 'starting' }, starting);
      },
    });
    new Gauge({ name: 'warmbox_pool_target', help: 'Containers the pool keeps now (warm, busy and starting), between its minimum and maximum', registers, async collect() { this.set((await stats()).target); } });
    const resizes = new Counter({ name: 'warmbox_pool_resizes_total', help: 'Changes of the pool\'s target size, by why: queue (jobs waiting), arrivals (faster than refills), quiet (fewer wanted for shrinkAfterMs)', labelNames: ['reason'], registers });
    sandbox.on('resized', (_from, _to, reason) => resizes.inc({ reason }));
    new Gauge({ name: 'warmbox_sessions_open', help: 'Sessions open, each holding a container of its own', registers, async collect() { this.set((await stats()).sessions); } });
    this.#cells = new Counter({ name: 'warmbox_session_cells_total', help: "Sessions' cells run, by how they ended", labelNames: ['status'], registers });
    this.#egress = new Counter({ name: 'warmbox_egress_connections_total', help: "Connections jobs asked the egress proxy for, by decision (allowed, refused) and how each ended", labelNames: ['decision', 'reason'], registers });
    this.#sessionsEnded = new Counter({ name: 'warmbox_sessions_ended_total', help: 'Sessions ended, by why', labelNames: ['reason'], registers });
    const startFailures = new Counter({ name: 'warmbox_container_start_failures_total', help: 'Replacement containers that failed to start', registers });
    const startSeconds = new Histogram({
      name: 'warmbox_container_start_duration_seconds',
      help: 'Time from a container start to its agent being ready',
      buckets: [0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10],
      registers,
    });
    sandbox.on('startFailed', () => startFailures.inc());
    sandbox.on('sessionEnded', (_id, reason) => this.#sessionsEnded.inc({ reason }));
    sandbox.on('warm', (_id, startMs) => startSeconds.observe(startMs / 1000));
  }

  /** Counts one cell of a session that got a result. */
  cell(status: RunStatus): void {
    this.#cells.inc({ status });
  }

  /** Counts one job that got a result, and the connections it asked for. */
  job(result: Pick<RunResult, 'status' | 'egress'>, seconds: number): void {
    this.#jobs.inc({ status: result.status });
    this.#runSeconds.observe(seconds);
    for (const { allowed, reason } of result.egress) this.#egress.inc({ decision: allowed ? 'allowed' : 'refused', reason });
  }
}
