/**
 * The HTTP status `warmbox serve` answers each error code with: the wire's part of the error
 * table (contract/errors.ts holds the classes and codes). A record over every code, so that a
 * new error class does not compile until it has its status here.
 */
import type { ErrorCode } from '../contract/errors.js';

const HTTP_STATUS: Readonly<Record<ServiceErrorCode, number>> = Object.freeze({
  WARMBOX_ERR_INVALID_ARGUMENT: 400,
  WARMBOX_ERR_NOT_INITIALIZED: 503,
  WARMBOX_ERR_POOL_CLOSED: 503,
  WARMBOX_ERR_QUEUE_FULL: 503,
  WARMBOX_ERR_QUEUE_TIMEOUT: 503,
  WARMBOX_ERR_ABORTED: 499,
  WARMBOX_ERR_DOCKER_UNAVAILABLE: 503,
  WARMBOX_ERR_IMAGE_NOT_FOUND: 500,
  WARMBOX_ERR_CONTAINER_START: 500,
  WARMBOX_ERR_RUNTIME_NOT_FOUND: 500,
  WARMBOX_ERR_RUNTIME_MISCONFIGURED: 500,
  WARMBOX_ERR_DOCKER: 502,
  WARMBOX_ERR_AGENT_PROTOCOL: 502,
  WARMBOX_ERR_REMOTE: 502,
  WARMBOX_ERR_SESSION_ENDED: 410,
  WARMBOX_ERR_UNAUTHORIZED: 401,
  WARMBOX_ERR_SESSION_NOT_FOUND: 404,
  WARMBOX_ERR_HOST_NOT_ALLOWED: 403,
  WARMBOX_ERR_ORIGIN_NOT_ALLOWED: 403,
  // The service's own: something failed that is no WarmboxError (a bug, or a fault of its own),
  // which a RemoteSandbox rethrows as a RemoteError.
  WARMBOX_ERR_INTERNAL: 500,
});

/** Every code the service may answer with: the library's, and its own. */
export type ServiceErrorCode = ErrorCode | 'WARMBOX_ERR_INTERNAL';

/** The HTTP status the service answers a code with: 500 for one it does not know. */
export function httpStatusOf(code: string): number {
  return (HTTP_STATUS as Record<string, number>)[code] ?? 500;
}
