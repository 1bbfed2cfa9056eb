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
  constructor() {
    super('the sandbox is closed');
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
  'WARMBOX_ERR_DOCKER',
  'WARMBOX_ERR_AGENT_PROTOCOL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
