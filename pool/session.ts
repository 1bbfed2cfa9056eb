/**
 * Sessions: one container held for one conversation. `sandbox.session()` takes a warm
 * container out of the pool (which starts its replacement), opens a session in it, and hands
 * back a Session whose `run()` runs each cell in the same Python interpreter, one after
 * another, as a notebook or a REPL does. The container serves that session alone, and is
 * removed when it ends: nothing passes from one session to another.
 */
import { randomBytes } from 'node:crypto';
import { debuglog } from 'node:util';
import type { AgentCellRequest, AgentRunRequest } from '../contract/protocol.js';
import { AbortError, InvalidArgumentError, SessionEndedError, sessionEndReasonOf, type SessionEndReason } from '../contract/errors.js';
import { prepareJob, type RunOptions, type RunResult } from './job.js';
import { MAX_JOB_BYTES, MAX_SESSION_MS, MAX_TIMEOUT_MS, SESSION_DEFAULTS, SESSION_ID_BYTES } from '../contract/limits.js';
import { checkInteger, checkPreload, describe, type ResolvedOptions } from './options.js';
import type { WarmContainer } from './warm-container.js';
import type { CellOptions, CellResult, PythonSession, SessionOptions } from './python-sandbox.js';
import type { EgressPolicy, EgressProxy } from './egress/proxy.js';
import { egressEnv, grantNetwork } from './egress/policy.js';

export type { CellOptions, CellResult, SessionOptions } from './python-sandbox.js';
export type { CellValue } from '../contract/protocol.js';
export type { SessionEndReason } from '../contract/errors.js';

const log = debuglog('warmbox');


const SESSION_FIELDS = new Set(['idleTimeoutMs', 'maxLifetimeMs', 'timeoutMs', 'cpuTimeMs', 'env', 'files', 'preload', 'network', 'signal']);
const CELL_FIELDS = new Set(['stdin', 'data', 'timeoutMs', 'cpuTimeMs', 'returnFiles', 'signal', 'onStdout', 'onStderr']);

export interface PreparedSession {
  /** The job that opens the session: its first cell, empty, with the session's env, files and preload. */
  readonly request: AgentRunRequest;
  /** Its data: null. */
  readonly dataJson: Buffer;
  readonly signal: AbortSignal | undefined;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
  readonly timeoutMs: number;
  readonly cpuTimeMs: number | undefined;
  /** What the session's cells may reach; undefined for a session without network. */
  readonly egress: EgressPolicy | undefined;
}

/** Checks a session's options, before any container is touched. */
export function prepareSession(options: unknown, sandbox: ResolvedOptions): PreparedSession {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `must be an object of session options, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!SESSION_FIELDS.has(key)) throw new InvalidArgumentError(`options.${key}`, 'is not an option of a session');
  }
  const { idleTimeoutMs = SESSION_DEFAULTS.idleTimeoutMs, maxLifetimeMs = SESSION_DEFAULTS.maxLifetimeMs, timeoutMs = sandbox.timeoutMs, cpuTimeMs, env, files, preload, network, signal } = options as SessionOptions;
  checkInteger('options.idleTimeoutMs', idleTimeoutMs, [1, MAX_SESSION_MS]);
  checkInteger('options.maxLifetimeMs', maxLifetimeMs, [1, MAX_SESSION_MS]);
  checkInteger('options.timeoutMs', timeoutMs, [1, MAX_TIMEOUT_MS]);
  if (cpuTimeMs !== undefined) checkInteger('options.cpuTimeMs', cpuTimeMs, [1, MAX_TIMEOUT_MS]);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('options.signal', `must be an AbortSignal, got ${describe(signal)}`);
  const modules = checkPreload(preload, 'options.preload');
  // The opening is a job of the library's own: its checks of env and files are a job's.
  const egress = grantNetwork(network, sandbox.network, timeoutMs, 'options.network');
  const { request, dataJson } = prepareJob({ code: '', env, files, timeoutMs: sandbox.startupTimeoutMs, cpuTimeMs: sandbox.startupTimeoutMs }, sandbox);
  // The proxy's variables live in the interpreter's environment from the opening on; the relay opens for each cell.
  const opening = egress === undefined ? request : { ...request, env: egressEnv(egress, request.env) };
  return { request: { ...opening, session: true, preload: modules }, dataJson, signal, idleTimeoutMs, maxLifetimeMs, timeoutMs, cpuTimeMs: cpuTimeMs ?? sandbox.cpuTimeMs, egress };
}

interface PreparedCell {
  readonly request: AgentCellRequest;
  readonly dataJson: Buffer;
  readonly signal: AbortSignal | undefined;
  readonly listeners: RunOptions;
}

/** Checks a cell, with the job's checks where a cell's fields are a job's. */
function prepareCell(code: unknown, options: unknown, session: PreparedSession, sandbox: ResolvedOptions): PreparedCell {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `must be an object of cell options, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!CELL_FIELDS.has(key)) throw new InvalidArgumentError(`options.${key}`, 'is not an option of a cell');
  }
  const { stdin = '', data, timeoutMs = session.timeoutMs, cpuTimeMs, returnFiles, signal, onStdout, onStderr } = options as CellOptions;
  if (typeof code !== 'string') throw new InvalidArgumentError('code', `must be a string, got ${describe(code)}`);
  if (typeof stdin !== 'string') throw new InvalidArgumentError('options.stdin', `must be a string, got ${describe(stdin)}`);
  const listeners = { onStdout, onStderr };
  const { request, dataJson } = prepareJob({ code, data: data ?? null, timeoutMs, cpuTimeMs: cpuTimeMs ?? session.cpuTimeMs ?? timeoutMs, returnFiles, signal }, sandbox, listeners);
  if (Buffer.byteLength(stdin) + Buffer.byteLength(code) + dataJson.length > MAX_JOB_BYTES) {
    throw new InvalidArgumentError('options.stdin', `with the code and data, is more than the ${MAX_JOB_BYTES} bytes a cell may carry`);
  }
  const { maxOutputBytes, stopOnOutputLimit } = request;
  return {
    request: { code, stdin, timeoutMs: request.timeoutMs, cpuTimeMs: request.cpuTimeMs, maxOutputBytes, stopOnOutputLimit, returnFiles: request.returnFiles },
    dataJson,
    signal,
    listeners,
  };
}

/** What a Session needs of the sandbox that opened it. */
export interface SessionHost {
  readonly options: ResolvedOptions;
  /** Removes the session's container and frees its place under maxSessions. */
  end(container: WarmContainer): Promise<void>;
  /** The session has ended, for whatever reason. */
  ended(session: Session, reason: SessionEndReason): void;
}

/**
 * One conversation's container and interpreter. Cells run one at a time, in the order
 * `run()` was called. Ends by `close()`, idle (`idleTimeoutMs`), age (`maxLifetimeMs`), a cell
 * that exits, runs out of memory or ignores an interrupt past its limit, or the sandbox's
 * close; then every `run()` rejects with SessionEndedError, whose `reason` says which.
 */
export class Session implements PythonSession {
  /** 128 random bits, hex: how the service names the session. */
  readonly id = randomBytes(SESSION_ID_BYTES).toString('hex');
  readonly #container: WarmContainer;
  /** The session's egress proxy, when it has network: open for its whole life, its connections cut at each cell's end. */
  readonly #proxy: EgressProxy | undefined;
  readonly #prepared: PreparedSession;
  readonly #host: SessionHost;
  /** The last cell asked for: each cell waits for the one before. */
  #tail: Promise<unknown> = Promise.resolve();
  #cellRunning = false;
  #cells = 0;
  #ended: SessionEndedError | undefined;
  #removed: Promise<void> | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #lifetimeTimer: NodeJS.Timeout;

  constructor(container: WarmContainer, prepared: PreparedSession, host: SessionHost, proxy?: EgressProxy) {
    this.#container = container;
    this.#prepared = prepared;
    this.#host = host;
    this.#proxy = proxy;
    this.#lifetimeTimer = setTimeout(() => void this.#end('lifetime'), prepared.maxLifetimeMs);
    this.#lifetimeTimer.unref();
    this.#waitIdle();
  }

  /** Why the session ended, once it has. */
  get endReason(): SessionEndReason | undefined {
    return this.#ended?.reason;
  }

  /** How many cells have run, the opening not counted. */
  get cells(): number {
    return this.#cells;
  }

  /**
   * Runs a cell in the session's interpreter, after the cells asked for before it. Resolves
   * with its result whatever the code did; rejects for a caller's mistake (before anything
   * runs), an abort, or a session that has ended (SessionEndedError).
   */
  run(code: string, options: CellOptions = {}): Promise<CellResult> {
    let cell: PreparedCell;
    try {
      cell = prepareCell(code, options, this.#prepared, this.#host.options);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = this.#tail.then(() => this.#runCell(cell));
    this.#tail = result.catch(() => {});
    return result;
  }

  async #runCell({ request, dataJson, signal, listeners }: PreparedCell): Promise<CellResult> {
    if (this.#ended) throw this.#ended;
    if (signal?.aborted) throw new AbortError(signal.reason);
    clearTimeout(this.#idleTimer);
    // An abort interrupts the cell rather than cut its answer off: the session and the
    // answer's order stay whole, and the caller hears AbortError once the cell has stopped.
    const onAbort = () => void this.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#cellRunning = true;
    let result: RunResult;
    try {
      result = await this.#container.runCell(this.#proxy === undefined ? request : { ...request, egress: true }, dataJson, undefined, listeners);
      // A cell is a job for the network: its connections end with it, and it reports its own.
      if (this.#proxy !== undefined) result = { ...result, egress: await this.#proxy.takeRecords() };
    } finally {
      this.#cellRunning = false;
      signal?.removeEventListener('abort', onAbort);
    }
    this.#cells++;
    // Ended while the cell ran (its lifetime, the sandbox destroyed): the cell's container is gone.
    if (this.#ended) throw this.#ended;
    // A result the host made itself (the agent was lost) has neither field: the session is over.
    const cell = result as Partial<CellResult>;
    const sessionEnded = cell.sessionEnded ?? true;
    if (sessionEnded) await this.#end(sessionEndReasonOf(result));
    else this.#waitIdle();
    if (signal?.aborted) throw new AbortError(signal.reason);
    return { ...result, value: cell.value ?? null, sessionEnded };
  }

  /** Raises KeyboardInterrupt in the running cell; does nothing when none runs. */
  async interrupt(): Promise<void> {
    if (!this.#cellRunning || this.#ended) return;
    await this.#container.interrupt().catch((error: unknown) => log('session %s: interrupt failed: %o', this.id, error));
  }

  /** Closes the session once the cells asked for have run, and removes its container. Idempotent. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#end('closed');
  }

  /** Ends the session now, a cell running or not (the sandbox's destroy()). */
  destroy(): Promise<void> {
    return this.#end('sandboxClosed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #waitIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => void this.#end('idle'), this.#prepared.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  /** Ends the session for `reason` (the first one given wins) and removes its container. */
  #end(reason: SessionEndReason): Promise<void> {
    if (this.#ended === undefined) {
      this.#ended = new SessionEndedError(reason);
      clearTimeout(this.#idleTimer);
      clearTimeout(this.#lifetimeTimer);
      this.#host.ended(this, reason);
      this.#removed = this.#host.end(this.#container).catch((error: unknown) => log('session %s: could not remove container %s: %o', this.id, this.#container.id, error));
    }
    return this.#removed!;
  }
}

