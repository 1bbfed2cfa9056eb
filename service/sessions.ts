/**
 * The service's sessions: the shared registry (wire/session-registry.ts), each bound to the
 * token that opened it, with the service's part on top: each open and cell logged, each cell
 * counted.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { CellOptions, CellResult, PythonSandbox, PythonSession, SessionOptions } from '../pool/index.js';
import { SessionRegistry, type WireCell } from '../wire/index.js';
import type { ServiceMetrics } from './metrics.js';

export class ServiceSessions {
  readonly registry: SessionRegistry;

  constructor(
    sandbox: PythonSandbox,
    readonly metrics: ServiceMetrics,
  ) {
    this.registry = new SessionRegistry(sandbox);
  }

  /** Opens a session for `owner`; its id. */
  async open(log: FastifyBaseLogger, owner: string, options: SessionOptions): Promise<string> {
    const id = await this.registry.of(owner).open(options);
    log.info({ sessionId: id }, 'session opened');
    return id;
  }

  /** Runs a cell of `owner`'s session `id`. */
  async run(log: FastifyBaseLogger, owner: string, id: string, { code, ...cell }: WireCell, options: CellOptions = {}): Promise<CellResult> {
    const result = await this.registry.of(owner).run(id, code, { ...cell, ...options });
    this.metrics.cell(result.status);
    log.info({ sessionId: id, status: result.status, durationMs: result.durationMs, sessionEnded: result.sessionEnded }, 'cell');
    return result;
  }

  /** `owner`'s session `id`; SessionNotFoundError (404) where there is none of theirs by that id. */
  find(owner: string, id: string): PythonSession {
    return this.registry.of(owner).find(id);
  }

  /** Closes `owner`'s session `id`, and forgets it. */
  close(owner: string, id: string): Promise<void> {
    return this.registry.of(owner).close(id);
  }

  /** Opens no more sessions; those open end with the sandbox. */
  drain(): void {
    this.registry.drain();
  }
}
