/**
 * The limits a job is checked against, and their unit: a light module, one of pool's public
 * faces, so that the layers that put a job on a wire (wire/, remote/) check the same numbers
 * without loading the pool. Each limit is written here once; pool/ checks jobs against these,
 * and the service's schemas take their maxima from them.
 */
import { MAX_JOB_BYTES, MAX_REQUEST_BYTES } from './protocol.js';

export { MAX_JOB_BYTES, MAX_REQUEST_BYTES };

/** Bytes in a MiB: the unit of every `...Mb` option. */
export const MIB = 1024 * 1024;

/**
 * The smallest memory limit, in MiB, of a sandbox or a job. When the container runs out of
 * memory, the kernel's OOM killer takes the process of the highest score: its resident pages
 * (mapped files included) plus, for the program, which sets oom_score_adj 1000, as many
 * pages again as the container's limit. The agent's Node holds about 48 MiB resident (33 of
 * them its own mapped binary), so with a smaller limit the kernel can choose the agent, and
 * the job loses its report: measured here, at 16 MiB a program whose children or files fill
 * the memory killed the agent; from 24 MiB up, in every shape tried, the program died and the
 * agent reported. 32 leaves a margin. (An agent with oom_score_adj below 0 would need
 * CAP_SYS_RESOURCE, which is not warmbox's to give.) gVisor needs as much for its own kernel.
 */
export const MIN_MEMORY_LIMIT_MB = 32;

/**
 * How close to `memoryLimitMb` a program's memory is held, in MiB, under runc: a program
 * whose processes, their page tables and the files they wrote to tmpfs stay this much below
 * the limit runs; one that passes it by this much ends `memory`. The slack is the agent's:
 * its share is measured when it is ready, and it may grow by up to AGENT_MEMORY_MARGIN_MB
 * while a job runs (layout.ts). Kill points measured at rest: 0.6 to 1.7 MiB above the limit;
 * on a loaded machine an agent measured its share 2 MiB high or more (docs/security.md), so 6.
 * test/integration/limits.test.ts holds both edges.
 */
export const MEMORY_TOLERANCE_MB = 6;

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

/** The most rules a job's `network.allow` may hold. */
export const MAX_NETWORK_RULES = 256;

/** The most modules `preload` may name, of a sandbox or a session. */
export const MAX_PRELOAD = 64;

/** The longest module name `preload` takes. */
export const MAX_MODULE_NAME_LENGTH = 256;

/** The longest a session's `idleTimeoutMs` and `maxLifetimeMs` may be: a week. */
export const MAX_SESSION_MS = 7 * 24 * 3600_000;

/** A session's defaults: closed after 5 minutes without a cell, and an hour after it opened. */
export const SESSION_DEFAULTS = Object.freeze({ idleTimeoutMs: 5 * 60_000, maxLifetimeMs: 60 * 60_000 });

/** A session's id is this many random bytes, in hex: SESSION_ID_LENGTH characters. */
export const SESSION_ID_BYTES = 16;
/** The length of a session's id: what the routes, the MCP tools and HAProxy's stick table take. */
export const SESSION_ID_LENGTH = SESSION_ID_BYTES * 2;
