/**
 * RemoteSandbox: the same face as Sandbox (PythonSandbox: initialize, run, session, stats,
 * close, destroy, the session events), with the same jobs, results and errors by class, over
 * the API of `warmbox serve` (one instance, or many behind a load balancer). Code written
 * against Sandbox switches by changing the constructor:
 *
 *   const sandbox = new RemoteSandbox({ url: 'http://warmbox.internal:8080', token });
 *
 * A job without listeners or a stdin stream goes as one `POST /v1/run` through an undici Pool;
 * one with them goes over the WebSocket `/v1/ws`. Every job carries an id (its own, or a new
 * one): a request that never reached the service is tried again with it, once, and the
 * service answers a repeat of an id with the first run's result, so no program runs twice.
 */
import { randomUUID } from 'node:crypto';
import { addAbortListener, EventEmitter } from 'node:events';
import { Pool, WebSocket, errors as undiciErrors, type Dispatcher } from 'undici';
// The light entries only (the errors, the limits, the wire; the pool's types, which load
// nothing), so that a process that only calls a service never loads dockerode or generic-pool.
import { AbortError, errorFromCode, InvalidArgumentError, PoolClosedError, RemoteError, SessionEndedError, sessionEndReasonOf } from '../contract/errors.js';
import { MAX_TIMEOUT_MS } from '../contract/limits.js';
import type { CellOptions, CellResult, Job, PoolStats, PythonSandbox, PythonSession, RunOptions, SandboxEvents, SessionEndReason, SessionOptions } from '../pool/index.js';
import { decodeResult, encodeFiles, encodeJob, ROUTES, sessionRoute, type SessionClientMessage, type WireCell, type ClientMessage, type DecodedResult, type ServerMessage, type WireError, type WireJob, type WireResult } from '../wire/index.js';

export interface RemoteSandboxOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8080` (HAProxy's, for several). */
  readonly url: string;
  /** The bearer token the service was started with. */
  readonly token?: string;
  /** Connections kept to the service. @default 16 */
  readonly connections?: number;
  /** How long to wait for a connection. @default 10000 */
  readonly connectTimeoutMs?: number;
  /**
   * How long past the job's own `timeoutMs` to wait for its answer: room for the queue and
   * the transfer. A job that sets no `timeoutMs` gets the service's own default, which the
   * client cannot know (`warmbox serve --timeout-ms`): it is waited for up to the longest any
   * service accepts (`MAX_TIMEOUT_MS`, an hour) plus this. @default 60000
   */
  readonly graceMs?: number;
}

/** A job for a RemoteSandbox: a Sandbox job, with the id the service remembers it by. */
export interface RemoteJob extends Job {
  /** Names the job; a repeat with the same id gets the first run's result. @default a new UUID */
  readonly id?: string;
}

/** A RunResult, and whether the service answered a repeat of the job's id with the first run's (`replayed`). */
export type RemoteRunResult = DecodedResult;


export class RemoteSandbox extends EventEmitter<SandboxEvents> implements PythonSandbox {
  readonly #url: URL;
  readonly #token: string | undefined;
  readonly #pool: Pool;
  readonly #graceMs: number;
  /** Each job's or session call's own controller while it is in flight, for destroy() to abort. */
  readonly #inFlight = new Map<AbortController, Promise<unknown>>();
  /** The sessions open, for close() and destroy() to end. */
  readonly #sessions = new Set<RemoteSession>();
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  #destroyed = false;

  constructor(options: RemoteSandboxOptions) {
    super();
    if (typeof options?.url !== 'string') throw new InvalidArgumentError('url', 'must be the service\'s URL');
    try {
      this.#url = new URL(options.url);
    } catch {
      throw new InvalidArgumentError('url', `is not a URL: ${JSON.stringify(options.url)}`);
    }
    this.#token = options.token;
    this.#graceMs = options.graceMs ?? 60_000;
    this.#pool = new Pool(this.#url.origin, { connections: options.connections ?? 16, connectTimeout: options.connectTimeoutMs ?? 10_000 });
  }

  /** Resolves once the service answers its readiness probe (ready, or full for now); RemoteError if it does not answer. */
  async initialize(): Promise<void> {
    await this.#readiness();
  }

  /** The service's pool, as its readiness probe reports it. */
  async stats(): Promise<PoolStats> {
    const { warm, busy, starting, queued, sessions, target, targetReason } = await this.#readiness();
    return { warm, busy, starting, queued, sessions, target, targetReason };
  }

  /** Runs one job on the service; resolves and rejects as Sandbox.run does. */
  async run(job: RemoteJob | string, options: RunOptions = {}): Promise<RemoteRunResult> {
    this.#assertOpen();
    const fields: RemoteJob = typeof job === 'string' ? { code: job } : job;
    if (typeof fields !== 'object' || fields === null) throw new InvalidArgumentError('job', 'must be a code string or a job object');
    const { signal, stdin, ...rest } = fields;
    if (signal?.aborted) throw new AbortError(signal.reason);
    const stdinStream = stdin !== undefined && typeof stdin !== 'string' ? stdin : undefined;
    const wire = encodeJob({ ...rest, id: fields.id ?? randomUUID(), ...(typeof stdin === 'string' ? { stdin } : {}) });
    // Output heard as it comes, or stdin sent as it comes, needs the WebSocket.
    const streamed = options.onStdout !== undefined || options.onStderr !== undefined || stdinStream !== undefined;
    return this.#tracked(signal, (tracked) => (streamed ? this.#runOverWebSocket(wire, stdinStream, options, tracked) : this.#post(wire, tracked)));
  }

  /**
   * Takes no new jobs, waits for those in flight, closes the sessions this client opened (their
   * containers are removed on the service), then its connections. Safe to call twice.
   */
  close(): Promise<void> {
    if (this.#destroying !== undefined) return this.#destroying;
    this.#closing ??= (async () => {
      await Promise.allSettled(this.#inFlight.values());
      await Promise.allSettled([...this.#sessions].map((session) => session.close()));
      // A destroy() meanwhile has dropped the connections already.
      if (!this.#destroyed) await this.#pool.close();
    })();
    return this.#closing;
  }

  /** Stops now: every job and call in flight rejects with PoolClosedError, the sessions are closed, the connections dropped. */
  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      this.#destroyed = true;
      const reason = new PoolClosedError('the sandbox was destroyed');
      for (const controller of this.#inFlight.keys()) controller.abort(reason);
      await Promise.allSettled([...this.#sessions].map((session) => session.close()));
      await this.#pool.destroy();
    })();
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closing !== undefined || this.#destroying !== undefined) throw new PoolClosedError();
  }

  /**
   * Runs `work` with a signal of its own, which follows the caller's and which destroy()
   * aborts; a call cut short by destroy() rejects with PoolClosedError, as Sandbox's does.
   */
  async #tracked<T>(signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const following = signal === undefined ? undefined : addAbortListener(signal, () => controller.abort(signal.reason));
    const pending = work(controller.signal);
    this.#inFlight.set(controller, pending);
    try {
      return await pending;
    } catch (error) {
      if (this.#destroyed) throw new PoolClosedError('the sandbox was destroyed');
      throw error;
    } finally {
      this.#inFlight.delete(controller);
      following?.[Symbol.dispose]();
    }
  }

  /** The readiness probe's answer: the pool's stats and its status. */
  async #readiness(): Promise<PoolStats & { status: string }> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#pool.request({ path: this.#route(ROUTES.readyz).pathname, method: 'GET' });
    } catch (error) {
      throw new RemoteError(`the service at ${this.#url.origin} did not answer: ${(error as Error).message}`, undefined, { cause: error });
    }
    const text = await response.body.text();
    if (response.statusCode !== 200 && response.statusCode !== 503) throw errorOf(response.statusCode, text);
    return JSON.parse(text) as PoolStats & { status: string };
  }

  async #post(wire: WireJob, signal: AbortSignal | undefined): Promise<RemoteRunResult> {
    const body = JSON.stringify(wire);
    // Not AbortSignal.any([signal, AbortSignal.timeout()]): Node keeps that alive as long as
    // the caller's signal lives (nodejs/node#55351), and callers pass one signal to many jobs.
    // A listener of our own instead, removed when the request is done.
    const controller = new AbortController();
    const following = signal === undefined ? undefined : addAbortListener(signal, () => controller.abort(signal.reason));
    const deadline = setTimeout(
      () => controller.abort(new Error('no answer before the deadline')),
      this.#waitMs(wire),
    );
    try {
      return await this.#postWithRetry(body, signal, controller.signal);
    } finally {
      clearTimeout(deadline);
      following?.[Symbol.dispose]();
    }
  }

  async #postWithRetry(body: string, signal: AbortSignal | undefined, requestSignal: AbortSignal): Promise<RemoteRunResult> {
    for (let attempt = 0; ; attempt++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.#pool.request({
          path: this.#route(ROUTES.run).pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...this.#authorization() },
          body,
          headersTimeout: 0,
          bodyTimeout: 0,
          signal: requestSignal,
        });
      } catch (error) {
        if (signal?.aborted) throw new AbortError(signal.reason);
        // Only where the request cannot have reached the service: the same id makes even a
        // wrong guess here harmless, since a repeat is answered, not run.
        if (attempt === 0 && neverSent(error)) continue;
        throw new RemoteError(`the service at ${this.#url.origin} did not answer: ${(error as Error).message}`, undefined, { cause: error });
      }
      const text = await response.body.text();
      if (response.statusCode === 200) return decodeResult(JSON.parse(text) as WireResult);
      throw errorOf(response.statusCode, text);
    }
  }

  #runOverWebSocket(
    wire: WireJob,
    stdin: AsyncIterable<string | Uint8Array> | undefined,
    options: RunOptions,
    signal: AbortSignal | undefined,
  ): Promise<RemoteRunResult> {
    return overWebSocket(this.#webSocketUrl(ROUTES.ws), this.#authorization(), {
      ...options,
      signal,
      deadlineMs: this.#waitMs(wire),
      opened: (socket) => {
        send(socket, { type: 'run', job: wire });
        if (stdin !== undefined) void pump(stdin, socket);
      },
    }).then(decodeResult);
  }

  #webSocketUrl(route: string): URL {
    const url = this.#route(route);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url;
  }


  /**
   * How long a job is waited for, over either path: its own timeoutMs (or, unknown to the
   * client, the service's default, at most MAX_TIMEOUT_MS) and graceMs.
   */
  #waitMs(wire: WireJob): number {
    return (wire.timeoutMs ?? MAX_TIMEOUT_MS) + this.#graceMs;
  }

  /**
   * Opens a session on the service, as `Sandbox#session` does: one container held for many
   * cells, bound to this client's token.
   */
  async session(options: SessionOptions = {}): Promise<RemoteSession> {
    this.#assertOpen();
    const { signal, files, ...rest } = options;
    const body = files === undefined ? rest : { ...rest, files: encodeFiles(files) };
    const { id } = await this.#tracked(signal, (tracked) => this.#call<{ id: string }>('POST', ROUTES.sessions, body, tracked));
    const session: RemoteSession = new RemoteSession(id, {
      call: (method, route, cell) => this.#tracked(undefined, (tracked) => this.#call(method, sessionRoute(route, id), cell, tracked)),
      live: (cell, listeners) =>
        overWebSocket(this.#webSocketUrl(sessionRoute(ROUTES.sessionWs, id)), this.#authorization(), {
          ...listeners,
          deadlineMs: this.#waitMs(cell as WireJob),
          opened: (socket) => socket.send(JSON.stringify({ type: 'run', cell } satisfies SessionClientMessage)),
          // An abort interrupts the cell; its result still comes, and the caller hears AbortError after it.
          aborted: (socket) => socket.send(JSON.stringify({ type: 'interrupt' } satisfies SessionClientMessage)),
        }),
      ended: (reason) => {
        this.#sessions.delete(session);
        this.emit('sessionEnded', id, reason);
      },
    });
    this.#sessions.add(session);
    this.emit('sessionOpened', id);
    return session;
  }

  /** One request of a session's: its JSON answer, or the error the service answered, as the library's class. */
  async #call<T>(method: 'POST' | 'DELETE', route: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#pool.request({
        path: this.#route(route).pathname,
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...this.#authorization() },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 0,
        bodyTimeout: 0,
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw new AbortError(signal.reason);
      throw new RemoteError(`the service at ${this.#url.origin} did not answer: ${(error as Error).message}`, undefined, { cause: error });
    }
    const text = await response.body.text();
    if (response.statusCode === 200) return JSON.parse(text) as T;
    if (response.statusCode === 204) return undefined as T;
    throw errorOf(response.statusCode, text);
  }

  /** A route under the service's URL, which may have a path of its own (behind a proxy). */
  #route(route: string): URL {
    const base = this.#url.pathname.endsWith('/') ? this.#url : new URL(`${this.#url.pathname}/`, this.#url);
    return new URL(route.slice(1), base);
  }

  #authorization(): Record<string, string> {
    return this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` };
  }
}

interface WebSocketExchange extends RunOptions {
  readonly signal: AbortSignal | undefined;
  /** After this, the exchange fails: a service that stops answering does not hang the caller. */
  readonly deadlineMs: number;
  /** Sends what starts the exchange, once the socket is open. */
  opened(socket: WebSocket): void;
  /** What an abort does besides rejecting: by default the socket closes, which the service takes as the client gone. */
  aborted?(socket: WebSocket): void;
}

/**
 * One job's or one cell's exchange on a WebSocket: its output to the listeners as it comes,
 * then its result; an error message, a close, an abort or the deadline first rejects.
 */
function overWebSocket(url: URL, headers: Record<string, string>, exchange: WebSocketExchange): Promise<WireResult> {
  const socket = new WebSocket(url, { headers } as never);
  const { signal } = exchange;
  return new Promise<WireResult>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      following?.[Symbol.dispose]();
      outcome();
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
    };
    const following =
      signal === undefined
        ? undefined
        : addAbortListener(signal, () => {
            if (exchange.aborted !== undefined && socket.readyState === WebSocket.OPEN) return exchange.aborted(socket);
            settle(() => reject(new AbortError(signal.reason)));
          });
    const deadline = setTimeout(
      () => settle(() => reject(new RemoteError(`the service at ${url.origin} gave no result before the deadline (the timeoutMs and graceMs)`))),
      exchange.deadlineMs,
    );
    socket.addEventListener('open', () => exchange.opened(socket));
    socket.addEventListener('message', (event) => {
      const message = parseServerMessage(String(event.data));
      if (message === undefined) return settle(() => reject(new RemoteError(`the service sent a message outside the protocol: ${String(event.data).slice(0, 200)}`)));
      if (message.type === 'stdout') exchange.onStdout?.(message.data);
      else if (message.type === 'stderr') exchange.onStderr?.(message.data);
      else if (message.type === 'result') settle(() => resolve(message.result));
      else if (message.type === 'error') settle(() => reject(errorOf(message.error.statusCode, JSON.stringify(message.error))));
    });
    socket.addEventListener('error', () => settle(() => reject(new RemoteError(`the WebSocket to ${url.origin} failed`))));
    socket.addEventListener('close', (event) =>
      settle(() => reject(new RemoteError(`the service closed the WebSocket before the result (${event.code}${event.reason ? ` ${event.reason}` : ''})`))),
    );
  });
}

/** A service's WebSocket message, or undefined for one that is not JSON or not one of the protocol's. */
function parseServerMessage(text: string): ServerMessage | undefined {
  let message: Partial<Record<string, unknown>>;
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { type } = message;
  if ((type === 'stdout' || type === 'stderr') && typeof message.data === 'string') return message as ServerMessage;
  if (type === 'result' && typeof message.result === 'object' && message.result !== null) return message as ServerMessage;
  if (type === 'error' && typeof (message.error as { code?: unknown } | undefined)?.code === 'string') return message as ServerMessage;
  return undefined;
}

function send(socket: WebSocket, message: ClientMessage): void {
  socket.send(JSON.stringify(message));
}

/** Sends the job's stdin stream as messages, then its end. */
async function pump(stdin: AsyncIterable<string | Uint8Array>, socket: WebSocket): Promise<void> {
  try {
    for await (const chunk of stdin) {
      if (socket.readyState !== WebSocket.OPEN) return;
      send(socket, { type: 'stdin', data: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
    }
    if (socket.readyState === WebSocket.OPEN) send(socket, { type: 'stdin_end' });
  } catch {
    // The job ended, or the stream failed: the job's own end says what happened.
  }
}

function errorOf(statusCode: number, text: string): Error {
  let body: Partial<WireError> = {};
  try {
    body = JSON.parse(text) as WireError;
  } catch {
    // Not the service's JSON: a proxy's page, say.
  }
  if (body.code === undefined) return new RemoteError(body.message ?? `the service answered ${statusCode}`, statusCode);
  return errorFromCode(body.code, body.message ?? '', body.field, body.reason as SessionEndReason | undefined);
}

/** The request failed before any byte of it could have reached the service. */
function neverSent(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return error instanceof undiciErrors.ConnectTimeoutError || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
}

/** How a RemoteSession reaches its session: a request, or a cell with live output on the session's WebSocket. */
interface SessionTransport {
  call<T>(method: 'POST' | 'DELETE', route: string, body?: unknown): Promise<T>;
  live(cell: WireCell, listeners: RunOptions & { readonly signal: AbortSignal | undefined }): Promise<WireResult>;
  /** The session has ended, as far as this client has seen: closed, or a cell ended it. */
  ended(reason: SessionEndReason): void;
}

/**
 * A session on a service: `run`, `interrupt` and `close` as a local Session's. A cell without
 * listeners is one `POST /v1/sessions/:id/run`, answered whole; one with `onStdout` or
 * `onStderr` goes over the session's WebSocket, its output heard as it is written.
 */
export class RemoteSession implements PythonSession {
  readonly #transport: SessionTransport;
  #endReason: SessionEndReason | undefined;

  constructor(
    readonly id: string,
    transport: SessionTransport,
  ) {
    this.#transport = transport;
  }

  /** Why the session ended, once this client has seen it end; undefined while it is open. */
  get endReason(): SessionEndReason | undefined {
    return this.#endReason;
  }

  /** Runs a cell; resolves with its result, or rejects with the library's error (SessionEndedError once it ended). */
  async run(code: string, options: CellOptions = {}): Promise<CellResult> {
    if (this.#endReason !== undefined) throw new SessionEndedError(this.#endReason);
    const { signal, onStdout, onStderr, ...fields } = options;
    const cell = { ...fields, code } as WireCell;
    let wire: WireResult;
    try {
      if (onStdout !== undefined || onStderr !== undefined) {
        wire = await this.#transport.live(cell, { onStdout, onStderr, signal });
      } else {
        const onAbort = signal === undefined ? undefined : addAbortListener(signal, () => void this.interrupt());
        try {
          wire = await this.#transport.call<WireResult>('POST', ROUTES.sessionRun, cell);
        } finally {
          onAbort?.[Symbol.dispose]();
        }
      }
    } catch (error) {
      if (error instanceof SessionEndedError) this.#ended(error.reason);
      throw error;
    }
    const result = { ...decodeResult(wire), value: wire.value ?? null, sessionEnded: wire.sessionEnded ?? false } as CellResult;
    if (result.sessionEnded) this.#ended(sessionEndReasonOf(result));
    if (signal?.aborted) throw new AbortError(signal.reason);
    return result;
  }

  /** Raises KeyboardInterrupt in the running cell. */
  async interrupt(): Promise<void> {
    await this.#transport.call('POST', ROUTES.sessionInterrupt);
  }

  /** Closes the session; its container is removed. Safe to call once it has ended. */
  async close(): Promise<void> {
    if (this.#endReason !== undefined) return;
    this.#ended('closed');
    await this.#transport.call('DELETE', ROUTES.session).catch((error: unknown) => {
      // Ended on the service already (410), or forgotten there (404): closed either way.
      if (!(error instanceof SessionEndedError) && (error as { code?: string }).code !== 'WARMBOX_ERR_SESSION_NOT_FOUND') throw error;
    });
  }

  #ended(reason: SessionEndReason): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    this.#transport.ended(reason);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
