/**
 * Every error warmbox throws or rejects with. Branch on `code`, never on the message: codes
 * are stable, messages may improve. Untrusted code misbehaving is never one of these; it is a
 * RunResult.
 */
export class WarmboxError extends Error {
  /** The class's code: each class names its own once, as this static, for its instances. */
  static readonly code: string = 'WARMBOX_ERR';
  /** Stable, unlike the message: what callers branch on. */
  readonly code: string;

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = new.target.code;
  }
}
// The class's own name, read from the prototype, so that an error revived by errorFromCode
// (which runs no subclass constructor) is named as one made here.
Object.defineProperty(WarmboxError.prototype, 'name', {
  get(this: WarmboxError) {
    return this.constructor.name;
  },
  configurable: true,
});

/** A caller's argument is wrong; `field` names it (`timeoutMs`, `job.code`, ...). */
export class InvalidArgumentError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_INVALID_ARGUMENT';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`);
  }
}

/** `run()` was called before `initialize()`. */
export class NotInitializedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_NOT_INITIALIZED';
  constructor() {
    super('call initialize() before run()');
  }
}

/** The sandbox was closed, or is closing. */
export class PoolClosedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_POOL_CLOSED';
  constructor(message = 'the sandbox is closed') {
    super(message);
  }
}

/** Every container was busy and `maxQueue` jobs were already waiting. */
export class QueueFullError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_QUEUE_FULL';
  constructor(maxQueue: number) {
    super(`every container is busy and ${maxQueue} jobs already wait (maxQueue)`);
  }
}

/** A job waited `queueTimeoutMs` for a container without getting one. */
export class QueueTimeoutError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_QUEUE_TIMEOUT';
  constructor(queueTimeoutMs: number) {
    super(`no container became free within ${queueTimeoutMs} ms (queueTimeoutMs)`);
  }
}

/** The job's AbortSignal fired; `cause` is the signal's reason. */
export class AbortError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_ABORTED';
  constructor(reason: unknown) {
    super('the job was aborted', { cause: reason });
  }
}

/** No Docker engine answered where warmbox looked. */
export class DockerUnavailableError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_DOCKER_UNAVAILABLE';
}

/** The agent image is not on this Docker engine. */
export class ImageNotFoundError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_IMAGE_NOT_FOUND';
  constructor(image: string, isDefault: boolean) {
    super(
      isDefault
        ? `the agent image ${image} is not built for this version of warmbox: run \`npx warmbox build-image\` in your project`
        : `the image ${image} (option image) is not on this Docker engine`,
    );
  }
}

/** A container did not become ready: the agent failed, exited, or took longer than `startupTimeoutMs`. */
export class ContainerStartError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_CONTAINER_START';
}

/**
 * The `runtime` option names a runtime the engine has not registered. `available` lists those
 * it has.
 */
export class RuntimeNotFoundError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_RUNTIME_NOT_FOUND';
  constructor(
    readonly runtime: string,
    readonly available: readonly string[] = [],
  ) {
    super(
      `the Docker engine has no runtime ${JSON.stringify(runtime)} (option runtime; it has ${available.length > 0 ? available.join(', ') : 'none listed'}): ` +
        (runtime === 'runsc'
          ? 'install gVisor (apt-get install runsc) and register it with `sudo npx warmbox doctor --fix-runtime runsc`, or by hand in /etc/docker/daemon.json, then reload the engine'
          : 'register it in /etc/docker/daemon.json and reload the engine, or choose one it has'),
    );
  }
}

/**
 * The runtime is registered without a flag warmbox needs (gVisor's `--host-uds=all` or
 * `--network=none`): `flag` names it, and the message says how to add it.
 */
export class RuntimeMisconfiguredError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_RUNTIME_MISCONFIGURED';
  constructor(
    readonly runtime: string,
    readonly flag: string,
    /** What is wrong, and what it would do. */
    readonly reason = '',
    /** How to mend it. */
    readonly fix = '',
  ) {
    super(`the runtime ${JSON.stringify(runtime)} cannot run warmbox's containers: ${reason}. To fix it, ${fix}`);
  }
}

/** The Docker engine failed an operation warmbox needed. */
export class DockerError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_DOCKER';
}

/** Why a session ended: see SessionEndedError. */
export type SessionEndReason = 'closed' | 'idle' | 'lifetime' | 'timeout' | 'memory' | 'exit' | 'error' | 'sandboxClosed';

const SESSION_ENDINGS: Record<SessionEndReason, string> = {
  closed: 'it was closed',
  idle: 'it was idle for idleTimeoutMs',
  lifetime: 'it reached maxLifetimeMs',
  timeout: 'a cell ran past its limit and did not stop when interrupted',
  memory: 'a cell ran out of memory',
  exit: 'a cell exited (sys.exit or os._exit)',
  error: 'its interpreter or container was lost',
  sandboxClosed: 'its sandbox was closed',
};

/** Why a session ended with a cell that ended it, from how the cell ended. */
export function sessionEndReasonOf(cell: { readonly status: string; readonly exitCode: number | null }): SessionEndReason {
  if (cell.status === 'memory') return 'memory';
  if (cell.status === 'timeout') return 'timeout';
  if (cell.exitCode !== null) return 'exit';
  return 'error';
}

/** A session's `run()` after the session ended; `reason` says why it did. */
export class SessionEndedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_SESSION_ENDED';
  constructor(
    readonly reason: SessionEndReason,
    detail?: string,
  ) {
    super(`the session has ended: ${SESSION_ENDINGS[reason]}${detail ? ` (${detail})` : ''}`);
  }
}

/** The agent answered something the protocol does not allow. */
export class AgentProtocolError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_AGENT_PROTOCOL';
}

/**
 * A remote service (RemoteSandbox) could not be reached, refused the call (a wrong token), or
 * lost it: `statusCode` is the HTTP status where there was one.
 */
export class RemoteError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_REMOTE';
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The service refused a request for its bearer token: none, or a wrong one. */
export class UnauthorizedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_UNAUTHORIZED';
  constructor(message = 'a valid bearer token is required') {
    super(message);
  }
}

/** The service has no session by that id: it never was, it ended and was forgotten, or another token opened it. */
export class SessionNotFoundError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_SESSION_NOT_FOUND';
  constructor(readonly id: string) {
    super(`no session ${id}`);
  }
}

/**
 * The service refused a request whose `Host` header names none it answers to: what a page that
 * points a name of its own at the service's address (DNS rebinding) sends. `allowedHosts`
 * (`warmbox serve --allowed-host`) adds names.
 */
export class HostNotAllowedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_HOST_NOT_ALLOWED';
  constructor(host: string) {
    super(`the service does not answer to the host ${JSON.stringify(host)}: allow it with --allowed-host (allowedHosts) if it is yours`);
  }
}

/**
 * The service refused a WebSocket or a state-changing request from a browser page on another
 * origin: a drive-by from a page the user visits. `allowedOrigins` (`warmbox serve
 * --allowed-origin`) adds origins.
 */
export class OriginNotAllowedError extends WarmboxError {
  static override readonly code = 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED';
  constructor(origin: string) {
    super(`requests from pages of ${JSON.stringify(origin)} are refused: allow the origin with --allowed-origin (allowedOrigins) if it is yours`);
  }
}

/**
 * The one list of warmbox's errors, each class in README's order. The codes and errorFromCode
 * derive from it; the HTTP status the service answers each with is the wire's
 * (wire/http-status.ts), which must name one for every code.
 */
const ERRORS = [
  InvalidArgumentError,
  NotInitializedError,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  AbortError,
  DockerUnavailableError,
  ImageNotFoundError,
  ContainerStartError,
  RuntimeNotFoundError,
  RuntimeMisconfiguredError,
  DockerError,
  AgentProtocolError,
  RemoteError,
  SessionEndedError,
  UnauthorizedError,
  SessionNotFoundError,
  HostNotAllowedError,
  OriginNotAllowedError,
] as const;

export type ErrorCode = (typeof ERRORS)[number]['code'];
/** Every code a WarmboxError carries, in README's order (a test keeps the two in step). */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(ERRORS.map((type) => type.code));

const BY_CODE = new Map<string, (typeof ERRORS)[number]>(ERRORS.map((type) => [type.code, type]));

/**
 * The error a code names, with the message (and, for InvalidArgumentError, the field) the
 * service sent: how a RemoteSandbox rethrows what it answered, so that callers branch on the
 * same classes as with a local Sandbox. Made without running the class's constructor, which
 * would word a message of its own. A code of no class is a RemoteError.
 */
export function errorFromCode(code: string, message: string, field?: string, reason?: SessionEndReason): WarmboxError {
  const type = BY_CODE.get(code) ?? RemoteError;
  const error = Reflect.construct(WarmboxError, [message], type) as WarmboxError;
  if (type === InvalidArgumentError) Object.defineProperty(error, 'field', { value: field ?? 'job', enumerable: true });
  if (type === SessionEndedError) Object.defineProperty(error, 'reason', { value: reason ?? 'error', enumerable: true });
  return error;
}
