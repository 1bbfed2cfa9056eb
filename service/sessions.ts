/**
 * The sessions of one service, by id, each bound to the token that opened it: another
 * token's requests do not find it (404), as if it did not exist. An ended session is kept a
 * while, so that its next cell hears why it ended (SessionEndedError, 410) rather than 404.
 */
import type { FastifyBaseLogger } from 'fastify';
import { PoolClosedError, SessionNotFoundError, type CellOptions, type CellResult, type Sandbox, type Session } from '../pool/index.js';
import { decodeFiles, type WireCell, type WireSessionOptions } from '../wire/index.js';
import type { ServiceMetrics } from './metrics.js';

// How long an ended session's id still answers with why it ended.
const FORGET_AFTER_MS = 10 * 60_000;

interface Held {
  readonly session: Session;
  readonly owner: string;
}

export class ServiceSessions {
  readonly #held = new Map<string, Held>();
  #draining = false;

  constructor(
    readonly sandbox: Sandbox,
    readonly metrics: ServiceMetrics,
  ) {
    sandbox.on('sessionEnded', (id, reason) => {
      metrics.sessionEnded(reason);
      setTimeout(() => this.#held.delete(id), FORGET_AFTER_MS).unref();
    });
  }

  /** Opens a session for `owner`; its id. */
  async open(log: FastifyBaseLogger, owner: string, { files, ...options }: WireSessionOptions): Promise<string> {
    if (this.#draining) throw new PoolClosedError();
    const session = await this.sandbox.session(files === undefined ? options : { ...options, files: decodeFiles(files) });
    this.#held.set(session.id, { session, owner });
    log.info({ sessionId: session.id }, 'session opened');
    return session.id;
  }

  /** Runs a cell of `owner`'s session `id`. */
  async run(log: FastifyBaseLogger, owner: string, id: string, { code, ...cell }: WireCell, options: CellOptions = {}): Promise<CellResult> {
    const session = this.find(owner, id);
    const result = await session.run(code, { ...cell, ...options });
    this.metrics.cell(result.status);
    log.info({ sessionId: id, status: result.status, durationMs: result.durationMs, sessionEnded: result.sessionEnded }, 'cell');
    return result;
  }

  /** `owner`'s session `id`; throws a 404 where there is none of theirs by that id. */
  find(owner: string, id: string): Session {
    const held = this.#held.get(id);
    if (held === undefined || held.owner !== owner) {
      throw new SessionNotFoundError(id);
    }
    return held.session;
  }

  /** Closes `owner`'s session `id`, and forgets it. */
  async close(owner: string, id: string): Promise<void> {
    const session = this.find(owner, id);
    this.#held.delete(id);
    await session.close();
  }

  /** Opens no more sessions; those open end with the sandbox. */
  drain(): void {
    this.#draining = true;
  }
}
