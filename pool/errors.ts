/**
 * Every error warmbox throws or rejects with. Branch on `code`, never on the message: codes
 * are stable, messages may improve. Untrusted code misbehaving is never one of these; it is a
 * RunResult.
 */
export class WarmboxError extends Error {
  readonly code: string = 'WARMBOX_ERR';
  override name = 'WarmboxError';
}

/** A caller's argument is wrong; `field` names it (`timeoutMs`, `job.code`, ...). */
export class InvalidArgumentError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_INVALID_ARGUMENT';
  override name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`);
  }
}

/** `run()` was called before `initialize()`. */
export class NotInitializedError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_NOT_INITIALIZED';
  override name = 'NotInitializedError';
  constructor() {
    super('call initialize() before run()');
  }
}

/** The sandbox was closed, or is closing. */
export class PoolClosedError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_POOL_CLOSED';
  override name = 'PoolClosedError';
  constructor(message = 'the sandbox is closed') {
    super(message);
  }
}

/** Every container was busy and `maxQueue` jobs were already waiting. */
export class QueueFullError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_QUEUE_FULL';
  override name = 'QueueFullError';
  constructor(maxQueue: number) {
    super(`every container is busy and ${maxQueue} jobs already wait (maxQueue)`);
  }
}

/** A job waited `queueTimeoutMs` for a container without getting one. */
export class QueueTimeoutError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_QUEUE_TIMEOUT';
  override name = 'QueueTimeoutError';
  constructor(queueTimeoutMs: number) {
    super(`no container became free within ${queueTimeoutMs} ms (queueTimeoutMs)`);
  }
}

/** The job's AbortSignal fired; `cause` is the signal's reason. */
export class AbortError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_ABORTED';
  override name = 'AbortError';
  constructor(reason: unknown) {
    super('the job was aborted', { cause: reason });
  }
}

/** No Docker engine answered where warmbox looked. */
export class DockerUnavailableError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_DOCKER_UNAVAILABLE';
  override name = 'DockerUnavailableError';
}

/** The agent image is not on this Docker engine. */
export class ImageNotFoundError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_IMAGE_NOT_FOUND';
  override name = 'ImageNotFoundError';
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
  override readonly code = 'WARMBOX_ERR_CONTAINER_START';
  override name = 'ContainerStartError';
}

/**
 * The `runtime` option names a runtime the engine has not registered. `available` lists those
 * it has.
 */
export class RuntimeNotFoundError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_RUNTIME_NOT_FOUND';
  override name = 'RuntimeNotFoundError';
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
  override readonly code = 'WARMBOX_ERR_RUNTIME_MISCONFIGURED';
  override name = 'RuntimeMisconfiguredError';
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
  override readonly code = 'WARMBOX_ERR_DOCKER';
  override name = 'DockerError';
}

/** The agent answered something the protocol does not allow. */
export class AgentProtocolError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_AGENT_PROTOCOL';
  override name = 'AgentProtocolError';
}

/**
 * A remote service (RemoteSandbox) could not be reached, refused the call (a wrong token), or
 * lost it: `statusCode` is the HTTP status where there was one.
 */
export class RemoteError extends WarmboxError {
  override readonly code = 'WARMBOX_ERR_REMOTE';
  override name = 'RemoteError';
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** All codes, as listed in README's error table (a test keeps the two in step). */
export const ERROR_CODES = [
  'WARMBOX_ERR_INVALID_ARGUMENT',
  'WARMBOX_ERR_NOT_INITIALIZED',
  'WARMBOX_ERR_POOL_CLOSED',
  'WARMBOX_ERR_QUEUE_FULL',
  'WARMBOX_ERR_QUEUE_TIMEOUT',
  'WARMBOX_ERR_ABORTED',
  'WARMBOX_ERR_DOCKER_UNAVAILABLE',
  'WARMBOX_ERR_IMAGE_NOT_FOUND',
  'WARMBOX_ERR_CONTAINER_START',
  'WARMBOX_ERR_RUNTIME_NOT_FOUND',
  'WARMBOX_ERR_RUNTIME_MISCONFIGURED',
  'WARMBOX_ERR_DOCKER',
  'WARMBOX_ERR_AGENT_PROTOCOL',
  'WARMBOX_ERR_REMOTE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The error a code names, with the message given: how a RemoteSandbox rethrows what the
 * service answered, so that callers branch on the same classes as with a local Sandbox.
 */
export function errorFromCode(code: string, message: string, field?: string): WarmboxError {
  const make: Record<ErrorCode, () => WarmboxError> = {
    WARMBOX_ERR_INVALID_ARGUMENT: () => new InvalidArgumentError(field ?? 'job', ''),
    WARMBOX_ERR_NOT_INITIALIZED: () => new NotInitializedError(),
    WARMBOX_ERR_POOL_CLOSED: () => new PoolClosedError(),
    WARMBOX_ERR_QUEUE_FULL: () => new QueueFullError(0),
    WARMBOX_ERR_QUEUE_TIMEOUT: () => new QueueTimeoutError(0),
    WARMBOX_ERR_ABORTED: () => new AbortError(undefined),
    WARMBOX_ERR_DOCKER_UNAVAILABLE: () => new DockerUnavailableError(),
    WARMBOX_ERR_IMAGE_NOT_FOUND: () => new ImageNotFoundError('', false),
    WARMBOX_ERR_CONTAINER_START: () => new ContainerStartError(),
    WARMBOX_ERR_RUNTIME_NOT_FOUND: () => new RuntimeNotFoundError(''),
    WARMBOX_ERR_RUNTIME_MISCONFIGURED: () => new RuntimeMisconfiguredError('', ''),
    WARMBOX_ERR_DOCKER: () => new DockerError(),
    WARMBOX_ERR_AGENT_PROTOCOL: () => new AgentProtocolError(),
    WARMBOX_ERR_REMOTE: () => new RemoteError(''),
  };
  const error = (ERROR_CODES as readonly string[]).includes(code) ? make[code as ErrorCode]() : new RemoteError('');
  error.message = message;
  return error;
}
