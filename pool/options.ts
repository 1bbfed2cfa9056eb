import { isAbsolute } from 'node:path';
import type Docker from 'dockerode';
import { InvalidArgumentError } from '../contract/errors.js';
import { MAX_MODULE_NAME_LENGTH, MAX_PRELOAD, MAX_TIMEOUT_MS, MIB, MIN_MEMORY_LIMIT_MB } from '../contract/limits.js';
import { resolveNetwork, type NetworkOptions, type ResolvedNetwork } from './egress/policy.js';

/** A pool that sizes itself between `min` and `max` containers. */
export interface PoolSizeRange {
  readonly min: number;
  readonly max: number;
}

/** Options of `new Sandbox(options)`. Every one has a default; units are in the names. */
export interface SandboxOptions {
  /**
   * How many containers are kept started and warm: a number for a fixed pool, or `{ min, max }`
   * for a pool that sizes itself. That one starts `min`, grows toward `max` when jobs wait or
   * arrive faster than containers are replaced (at most `startConcurrency` starting at once),
   * and shrinks back after `shrinkAfterMs` of wanting fewer. `stats().target` and the
   * `resized` event say how many it keeps and why.
   * @default 2
   */
  readonly poolSize?: number | PoolSizeRange;
  /**
   * How long a pool that sizes itself must want fewer containers than it has before it lets
   * the rest go, so that a lull between bursts keeps what the next burst needs.
   * @default 30000
   */
  readonly shrinkAfterMs?: number;
  /**
   * A job's wall-clock limit, when the job sets none.
   * @default 10000
   */
  readonly timeoutMs?: number;
  /**
   * Memory the program's processes may use together, the interpreter included, in MiB; files
   * in its tmpfs directories count, within MEMORY_TOLERANCE_MB. No swap. The container's
   * limit adds the agent's share, which the agent measures when ready, and its margin.
   * @default 128
   */
  readonly memoryLimitMb?: number;
  /**
   * CPU time a job's processes may use together, when the job sets none. Apart from the
   * wall-clock `timeoutMs`: a program that sleeps uses little, one busy in several processes
   * uses it faster than the clock. By default it equals the job's wall-clock limit, so only
   * a program busy on more than one core can hit it first.
   * @default the job's timeoutMs
   */
  readonly cpuTimeMs?: number;
  /**
   * Processes and threads the program may hold together, its interpreter included: at 1,
   * fork and thread starts fail. The container's limit adds the agent's (`AGENT_TASKS`).
   * @default 64
   */
  readonly pidsLimit?: number;
  /**
   * The most memory a job may ask for itself (`job.memoryLimitMb`), in MiB: a job may lower
   * its limit below `memoryLimitMb`, and raise it up to this.
   * @default memoryLimitMb
   */
  readonly maxJobMemoryLimitMb?: number;
  /**
   * The most processes and threads a job may ask for itself (`job.pidsLimit`).
   * @default pidsLimit
   */
  readonly maxJobPidsLimit?: number;
  /**
   * Size of the program's writable working directory `/work` (a tmpfs), in MiB. Its files
   * count towards memoryLimitMb, and outlive the program: `/work`, `/tmp` and `/dev/shm`
   * together (workDirSizeMb + 2 × tmpSizeMb) hold at most memoryLimitMb, so that files can
   * never leave the agent without room to report (see tmpfsMb).
   * @default 64, or half of memoryLimitMb where that is less
   */
  readonly workDirSizeMb?: number;
  /**
   * Size of `/tmp`, and of `/dev/shm`, each a tmpfs, in MiB.
   * @default 16, or an eighth of memoryLimitMb where that is less
   */
  readonly tmpSizeMb?: number;
  /**
   * The largest file the program may write, in MiB (RLIMIT_FSIZE); a larger write fails with EFBIG.
   * @default 64
   */
  readonly maxFileSizeMb?: number;
  /**
   * Files each of the program's processes may hold open (RLIMIT_NOFILE).
   * @default 256
   */
  readonly maxOpenFiles?: number;
  /**
   * Stack of each of the program's processes, in MiB (RLIMIT_STACK).
   * @default 8
   */
  readonly stackSizeMb?: number;
  /**
   * The most of stdout, and separately of stderr, kept per job; more sets `outputTruncated`.
   * @default 1048576
   */
  readonly maxOutputBytes?: number;
  /**
   * Stop the program once stdout or stderr passes `maxOutputBytes` (`status: 'output'`), as a
   * web IDE wants for a runaway print loop; `false` lets it run on, the rest read and dropped.
   * @default true
   */
  readonly stopOnOutputLimit?: boolean;
  /**
   * The most files a job's `returnFiles` brings back; more sets `filesTruncated`.
   * @default 100
   */
  readonly maxReturnFiles?: number;
  /**
   * The most bytes a job's returned files hold together; a file that would pass it is left
   * out and sets `filesTruncated`.
   * @default 16777216
   */
  readonly maxReturnBytes?: number;
  /**
   * How long finding and copying a job's returned files may take, after the program ended.
   * @default 5000
   */
  readonly returnFilesTimeoutMs?: number;
  /**
   * Modules each waiting interpreter imports before its container counts as warm, so that a
   * job importing them pays nothing (`['numpy', 'pandas', 'matplotlib.pyplot']`). Their
   * memory is the program's: raise `memoryLimitMb` to match. One that fails to import makes
   * `initialize()` reject, naming it.
   * @default []
   */
  readonly preload?: readonly string[];
  /**
   * The most jobs that wait for a container when all are busy; one more is rejected.
   * @default 100
   */
  readonly maxQueue?: number;
  /**
   * How long a job may wait for a container.
   * @default 30000
   */
  readonly queueTimeoutMs?: number;
  /**
   * How many sessions (`sandbox.session()`) may be open at once. Each holds a container of
   * its own, out of the pool, which starts a replacement: sessions never take the warm
   * containers jobs wait for, and this bounds what they add to the machine. A session past
   * it waits in the job queue, under maxQueue and queueTimeoutMs, and jobs behind it go first.
   * @default 16
   */
  readonly maxSessions?: number;
  /**
   * How long a container may take from create to a ready agent.
   * @default 30000
   */
  readonly startupTimeoutMs?: number;
  /**
   * How long one call to the Docker engine may take (create, start, inspect, remove...): an
   * engine that takes connections and never answers gives a DockerError, not a hang. Not the
   * calls that last as long as a container does. Also how long close() goes on trying to
   * remove containers while the engine is down, before it rejects naming them.
   * @default 30000
   */
  readonly dockerTimeoutMs?: number;
  /**
   * How many containers may be starting at once. Two keep both cores of a small machine
   * busy without the starts slowing each other down.
   * @default 2
   */
  readonly startConcurrency?: number;
  /**
   * Let the program run files it wrote: the working directory and /tmp are mounted without
   * `noexec`, so a script it writes, or a binary it compiles, runs through `subprocess` and
   * `shutil.which` finds it, as with `python3 main.py`. Off by default: a program can then
   * bring in and run code of any kind, not only Python (README, Security model).
   * @default false
   */
  readonly allowExec?: boolean;
  /**
   * What jobs may reach on the network, through the host's egress proxy: the ceiling of every
   * job's own `network`. Without it, and for a job that asks for nothing, a job reaches
   * nothing at all (README, Network).
   * @default none
   */
  readonly network?: NetworkOptions;
  /**
   * The container runtime the engine runs each container with, by its name in the engine's
   * configuration (`docker info` lists them): `'runc'`, the engine's usual one, or `'runsc'`,
   * gVisor, which puts a second kernel between the program and the host's (README, Security
   * model). `initialize()` checks that the engine has it, and for gVisor the flags warmbox
   * needs, before any container starts.
   * @default 'runc'
   */
  readonly runtime?: string;
  /**
   * The agent image. By default, the one `npm run build:image` built for this version.
   * @default the image of this version of warmbox
   */
  readonly image?: string;
  /**
   * An absolute directory in which the pool makes its own directory (the pool directory,
   * `warmbox-XXXXXX`), which holds one io directory per container: bind-mounted into it at
   * AGENT_IO_DIR, the directory of its agent's socket and of the files a job returns. The engine reads a bind mount's source on its host, so
   * a process that runs in a container and starts its sibling containers through a mounted
   * Docker socket must use a host path mounted at the same path inside
   * (`-v /var/lib/warmbox:/var/lib/warmbox`).
   * @default os.tmpdir()
   */
  readonly socketRoot?: string;
  /**
   * How to reach the Docker engine (dockerode's options). By default DOCKER_HOST, else
   * /var/run/docker.sock.
   * @default {}
   */
  readonly docker?: Docker.DockerOptions;
}

export const DEFAULTS = Object.freeze({
  poolSize: 2,
  shrinkAfterMs: 30_000,
  timeoutMs: 10_000,
  memoryLimitMb: 128,
  pidsLimit: 64,
  workDirSizeMb: 64,
  tmpSizeMb: 16,
  maxFileSizeMb: 64,
  maxOpenFiles: 256,
  stackSizeMb: 8,
  maxOutputBytes: MIB,
  maxQueue: 100,
  queueTimeoutMs: 30_000,
  maxSessions: 16,
  startupTimeoutMs: 30_000,
  dockerTimeoutMs: 30_000,
  startConcurrency: 2,
  maxReturnFiles: 100,
  maxReturnBytes: 16 * MIB,
  returnFilesTimeoutMs: 5000,
  stopOnOutputLimit: true,
  allowExec: false,
  runtime: 'runc',
});

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

type NumericOption = { [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends number ? K : never }[keyof typeof DEFAULTS];
// A runtime's name in daemon.json: what the engine accepts as a key there.
const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export type ResolvedOptions = Readonly<typeof DEFAULTS> & {
  /** The pool's most containers: poolSize (its minimum) for a fixed pool. */
  readonly maxPoolSize: number;
  readonly maxJobMemoryLimitMb: number;
  readonly maxJobPidsLimit: number;
  readonly preload: readonly string[];
  readonly cpuTimeMs: number | undefined;
  readonly image: string | undefined;
  readonly socketRoot: string | undefined;
  readonly docker: Docker.DockerOptions;
  readonly network: ResolvedNetwork | undefined;
};

// [smallest, largest] accepted for each numeric option: what lies outside is a mistake, and
// is reported, never clamped.
const RANGES: Record<NumericOption, readonly [number, number]> = {
  poolSize: [1, 256],
  shrinkAfterMs: [0, 24 * 60 * 60 * 1000],
  timeoutMs: [1, MAX_TIMEOUT_MS],
  memoryLimitMb: [MIN_MEMORY_LIMIT_MB, 64 * 1024],
  pidsLimit: [1, 32_768],
  workDirSizeMb: [1, 64 * 1024],
  tmpSizeMb: [1, 64 * 1024],
  maxFileSizeMb: [1, 64 * 1024],
  maxOpenFiles: [16, 65_536],
  stackSizeMb: [1, 1024],
  maxOutputBytes: [0, 1024 * MIB],
  maxQueue: [0, 1_000_000],
  maxSessions: [0, 100_000],
  queueTimeoutMs: [1, 24 * 60 * 60 * 1000],
  startupTimeoutMs: [1, 10 * 60 * 1000],
  dockerTimeoutMs: [1, 10 * 60 * 1000],
  startConcurrency: [1, 64],
  maxReturnFiles: [0, 10_000],
  maxReturnBytes: [0, 1024 * MIB],
  returnFilesTimeoutMs: [1, 10 * 60 * 1000],
};

/** What /work, /tmp and /dev/shm may hold together, in MiB: at most the program's memory, since their files outlive it. */
export function tmpfsMb(options: { readonly workDirSizeMb: number; readonly tmpSizeMb: number }): number {
  return options.workDirSizeMb + 2 * options.tmpSizeMb;
}

/** An option's default; the tmpfs sizes shrink with a small memoryLimitMb, to fit within it. */
function defaultOf(key: NumericOption, resolved: Record<string, unknown>): number {
  const memoryLimitMb = (resolved.memoryLimitMb as number | undefined) ?? DEFAULTS.memoryLimitMb;
  if (key === 'workDirSizeMb') return Math.min(DEFAULTS.workDirSizeMb, Math.floor(memoryLimitMb / 2));
  if (key === 'tmpSizeMb') return Math.min(DEFAULTS.tmpSizeMb, Math.floor(memoryLimitMb / 8));
  return DEFAULTS[key];
}

/** Validates `new Sandbox(...)`'s argument once, with the defaults filled in. */
export function resolveOptions(input: number | SandboxOptions | undefined): ResolvedOptions {
  const options: SandboxOptions = typeof input === 'number' ? { poolSize: input } : (input ?? {});
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', 'must be a pool size or an options object');
  }
  const known = new Set<string>([...Object.keys(DEFAULTS), 'cpuTimeMs', 'maxJobMemoryLimitMb', 'maxJobPidsLimit', 'image', 'socketRoot', 'docker', 'preload', 'network']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidArgumentError(key, 'is not an option of Sandbox');
  }
  const resolved: Record<string, unknown> = {};
  const { poolSize: range, ...numeric } = options;
  // Only a missing option takes the default: null is a value, and a wrong one.
  for (const key of Object.keys(RANGES) as NumericOption[]) {
    if (key === 'poolSize') continue;
    resolved[key] = checkInteger(key, numeric[key] === undefined ? defaultOf(key, resolved) : numeric[key], RANGES[key]);
  }
  Object.assign(resolved, resolvePoolSize(range));
  const tmpfs = tmpfsMb(resolved as { workDirSizeMb: number; tmpSizeMb: number });
  if (tmpfs > (resolved.memoryLimitMb as number)) {
    const field = options.workDirSizeMb !== undefined ? 'workDirSizeMb' : 'tmpSizeMb';
    throw new InvalidArgumentError(field, `gives /work, /tmp and /dev/shm ${tmpfs} MiB together (workDirSizeMb + 2 × tmpSizeMb), more than memoryLimitMb (${resolved.memoryLimitMb as number}): files outlive the program, and would leave the agent no room to report`);
  }
  for (const key of ['stopOnOutputLimit', 'allowExec'] as const) {
    const value = options[key] === undefined ? DEFAULTS[key] : options[key];
    if (typeof value !== 'boolean') throw new InvalidArgumentError(key, `must be true or false, got ${describe(value)}`);
    resolved[key] = value;
  }
  const cpuTimeMs = options.cpuTimeMs === undefined ? undefined : checkInteger('cpuTimeMs', options.cpuTimeMs, [1, MAX_TIMEOUT_MS]);
  // A job's ceiling is at least the pool's own limit, which every job may have.
  for (const [ceiling, limit] of [['maxJobMemoryLimitMb', 'memoryLimitMb'], ['maxJobPidsLimit', 'pidsLimit']] as const) {
    const floor = resolved[limit] as number;
    resolved[ceiling] = options[ceiling] === undefined ? floor : checkInteger(ceiling, options[ceiling], [floor, RANGES[limit][1]]);
  }
  if (options.image !== undefined && (typeof options.image !== 'string' || options.image === '')) {
    throw new InvalidArgumentError('image', 'must be a non-empty image name');
  }
  if (options.socketRoot !== undefined && (typeof options.socketRoot !== 'string' || !isAbsolute(options.socketRoot))) {
    throw new InvalidArgumentError('socketRoot', `must be an absolute directory path, got ${describe(options.socketRoot)}`);
  }
  if (options.docker !== undefined && (typeof options.docker !== 'object' || options.docker === null)) {
    throw new InvalidArgumentError('docker', "must be dockerode's connection options");
  }
  const runtime = options.runtime === undefined ? DEFAULTS.runtime : options.runtime;
  if (typeof runtime !== 'string' || !RUNTIME_NAME.test(runtime)) {
    throw new InvalidArgumentError('runtime', `must be the name of a runtime the Docker engine has registered, such as runc or runsc, got ${describe(runtime)}`);
  }
  resolved.runtime = runtime;
  const preload = checkPreload(options.preload);
  const network = resolveNetwork(options.network);
  return Object.freeze({ ...resolved, preload, cpuTimeMs, image: options.image, socketRoot: options.socketRoot, docker: options.docker ?? {}, network }) as ResolvedOptions;
}

/** `poolSize`: a number (a fixed pool), or `{ min, max }`, each checked by its own name. */
function resolvePoolSize(value: unknown): { poolSize: number; maxPoolSize: number } {
  if (typeof value !== 'object' || value === null) {
    const poolSize = checkInteger('poolSize', value === undefined ? DEFAULTS.poolSize : value, RANGES.poolSize);
    return { poolSize, maxPoolSize: poolSize };
  }
  if (Array.isArray(value)) throw new InvalidArgumentError('poolSize', 'must be a number or { min, max }, got an array');
  const { min, max, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new InvalidArgumentError(`poolSize.${extra}`, 'is not a field of poolSize, which takes min and max');
  const poolSize = checkInteger('poolSize.min', min, RANGES.poolSize);
  return { poolSize, maxPoolSize: checkInteger('poolSize.max', max, [poolSize, RANGES.poolSize[1]]) };
}

export function checkPreload(preload: unknown, field = 'preload'): readonly string[] {
  if (preload === undefined) return Object.freeze([]);
  if (!Array.isArray(preload)) throw new InvalidArgumentError(field, `must be an array of module names, got ${describe(preload)}`);
  if (preload.length > MAX_PRELOAD) throw new InvalidArgumentError(field, `names ${preload.length} modules; at most ${MAX_PRELOAD} are accepted`);
  for (const [index, name] of preload.entries()) {
    if (typeof name !== 'string' || name.length > MAX_MODULE_NAME_LENGTH || !MODULE_NAME.test(name)) {
      throw new InvalidArgumentError(`${field}[${index}]`, `must be a module name such as numpy or matplotlib.pyplot, got ${describe(name)}`);
    }
  }
  return Object.freeze([...(preload as string[])]);
}

export function checkInteger(field: string, value: unknown, [min, max]: readonly [number, number]): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError(field, `must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new InvalidArgumentError(field, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}
