export { Sandbox, type Callback, type SandboxEvents } from './sandbox.js';
export type { Job, RunResult, RunStatus, PythonError } from './job.js';
export type { PoolStats } from './container-pool.js';
export { DEFAULTS, AGENT_MEMORY_RESERVE_MB, MAX_TIMEOUT_MS, type SandboxOptions } from './options.js';
export { MAX_JOB_BYTES } from './job.js';
export { LABELS } from './labels.js';
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
  DockerError,
  AgentProtocolError,
  ERROR_CODES,
  type ErrorCode,
} from './errors.js';
