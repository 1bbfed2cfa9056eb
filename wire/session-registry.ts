/**
 * The sessions a face hands out to its clients by id: the service's (HTTP, WebSocket, MCP at
 * /mcp) and `warmbox mcp`'s (stdio), one registry over any PythonSandbox. Each session is bound
 * to the owner that opened it (a token's digest; the stdio client): another owner's requests do
 * not find it (SessionNotFoundError), as if it did not exist. An ended session is kept a while,
 * so that its next cell hears why it ended (SessionEndedError) rather than that it is unknown.
 */
import { PoolClosedError, SessionNotFoundError } from '../contract/errors.js';
import type { CellOptions, CellResult, PythonSandbox, PythonSession, SessionOptions } from '../pool/index.js';

/** One owner's sessions: what a route or a tool works with. */
export interface OwnedSessions {
  /** Opens a session; its id. */
  open(options: SessionOptions): Promise<string>;
  /** The session `id`; SessionNotFoundError where there is none of this owner's by that id. */
  find(id: string): PythonSession;
  /** Runs a cell of session `id`. */
  run(id: string, code: string, options?: CellOptions): Promise<CellResult>;
  /** Closes session `id`, and forgets it. */
  close(id: string): Promise<void>;
}

interface Held {
  readonly session: PythonSession;
  readonly owner: string;
}

export class SessionRegistry {
  readonly #held = new Map<string, Held>();
  #draining = false;

  constructor(
    readonly sandbox: PythonSandbox,
    /** How long an ended session's id still answers with why it ended. @default 600000 */
    forgetAfterMs = 10 * 60_000,
  ) {
    sandbox.on('sessionEnded', (id) => {
      setTimeout(() => this.#held.delete(id), forgetAfterMs).unref();
    });
  }

  /** The sessions of `owner`. */
  of(owner: string): OwnedSessions {
    return {
      open: async (options) => {
        if (this.#draining) throw new PoolClosedError();
        const session = await this.sandbox.session(options);
        this.#held.set(session.id, { session, owner });
        return session.id;
      },
      find: (id) => this.#find(owner, id),
      run: (id, code, options) => this.#find(owner, id).run(code, options),
      close: async (id) => {
        const session = this.#find(owner, id);
        this.#held.delete(id);
        await session.close();
      },
    };
  }

  /** Opens no more sessions; those open end with the sandbox. */
  drain(): void {
    this.#draining = true;
  }

  #find(owner: string, id: string): PythonSession {
    const held = this.#held.get(id);
    if (held === undefined || held.owner !== owner) throw new SessionNotFoundError(id);
    return held.session;
  }
}
