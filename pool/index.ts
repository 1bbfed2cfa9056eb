export { Sandbox, type Callback, type SandboxEvents } from './sandbox.js';
export type { PythonSandbox, PythonSession } from './python-sandbox.js';
export type { Job, RunOptions, RunResult, RunStatus, PythonError, JobFiles, ReturnedFile } from './job.js';
export type { PoolStats } from './container-pool.js';
export type { ResizeReason } from './pool-sizer.js';
export { Session, type SessionOptions, type CellOptions, type CellResult, type CellValue, type SessionEndReason } from './session.js';
export { DEFAULTS, type PoolSizeRange, type SandboxOptions } from './options.js';
export { MAX_ENV_BYTES, MAX_JOB_BYTES, MAX_JOB_FILES, MAX_PATH_BYTES, MAX_RETURN_PATTERNS, MAX_TIMEOUT_MS, MIB } from '../contract/limits.js';
export type { RuntimeInfo, RuntimeKind } from './runtime.js';
export {
  WarmboxError,
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
  errorFromCode,
  ERROR_CODES,
  type ErrorCode,
} from '../contract/errors.js';
