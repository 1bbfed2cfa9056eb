/**
 * The limits a job is checked against, and their unit: a light module, one of pool's public
 * faces, so that the layers that put a job on a wire (wire/, remote/) check the same numbers
 * without loading the pool. Each limit is written here once; pool/ checks jobs against these,
 * and the service's schemas take their maxima from them.
 */
import { MAX_JOB_BYTES, MAX_REQUEST_BYTES } from '../agent/protocol.js';

export { MAX_JOB_BYTES, MAX_REQUEST_BYTES };

/** Bytes in a MiB: the unit of every `...Mb` option. */
export const MIB = 1024 * 1024;

/** The smallest memory limit, in MiB, of a sandbox or a job: below it the interpreter itself (about 6 MiB) leaves the program nothing. */
export const MIN_MEMORY_LIMIT_MB = 8;

/** The longest `timeoutMs` accepted: a sandboxed job of more than an hour is a mistake. */
export const MAX_TIMEOUT_MS = 60 * 60 * 1000;

/** The most the names and values of a job's `env` may hold together. */
export const MAX_ENV_BYTES = 128 * 1024;

/** The most files a job may send. */
export const MAX_JOB_FILES = 1000;

/** The most patterns `returnFiles` may hold. */
export const MAX_RETURN_PATTERNS = 64;

/** Linux's own limit on a path (PATH_MAX less its NUL): of a file sent, or a pattern. */
export const MAX_PATH_BYTES = 4095;
