import type Docker from 'dockerode';
import { dockerFailed } from './docker.js';
import { InvalidArgumentError, RuntimeMisconfiguredError, RuntimeNotFoundError } from '../contract/errors.js';
import { GVISOR_FLAG_VALUES, gvisorFlag, gvisorRuntimeEntry } from '../contract/gvisor.js';

/**
 * How a runtime runs a container, as far as warmbox must know it:
 * - `runc` (and any runtime like it): the program's processes are the host kernel's, in the
 *   container's cgroups, which the agent reads and the engine's limits bound directly;
 * - `gvisor` (runsc): a second kernel, gVisor's Sentry, runs the program. The host's cgroup
 *   holds the Sentry and its helper processes, not the program's own, so the pids limit is
 *   enforced inside (RLIMIT_NPROC), the host's limit leaves room for the Sentry, and the
 *   agent reads CPU time from gVisor's /proc, which shows no cgroups.
 */
export type RuntimeKind = 'runc' | 'gvisor';

/** A runtime the engine has registered, checked for what warmbox needs of it. */
export interface RuntimeInfo {
  /** Its name on the engine, the `runtime` option. */
  readonly name: string;
  readonly kind: RuntimeKind;
  /** The binary the engine runs, where the engine says. */
  readonly path: string | undefined;
  /** The arguments the engine passes it (daemon.json's `runtimeArgs`). */
  readonly args: readonly string[];
}

/**
 * Under gVisor the host's cgroup holds the Sentry, not the program: its memory (the Sentry,
 * the Gofer, and gVisor's own cache of the image files the agent and Python read, about
 * 100 MiB in a warm container here, most of it reclaimable page cache) on top of the
 * program's, and its tasks: some 80 for the Sentry and its helpers at rest, and up to about
 * six host tasks for each process of the program (ptrace's stub processes and threads).
 * The program's own processes are bounded inside gVisor by RLIMIT_NPROC (the runner sets it
 * to pidsLimit); the host's limit only has to leave the Sentry room, which, when it has none,
 * fails whole ("error initializing first thread": the agent's exit with status 2).
 */
export const GVISOR_MEMORY_MB = 24;
export const GVISOR_HOST_TASKS = 256;
export const GVISOR_HOST_TASKS_PER_TASK = 8;

/** What the engine's `GET /info` says of its runtimes. */
export type EngineRuntimes = Readonly<Record<string, { path?: string; runtimeArgs?: string[] | null } | undefined>>;

/** The Unix-socket modes of runsc's `--host-uds` that let the host connect to a socket the agent binds. */
const HOST_UDS_CREATE = new Set(['create', 'all']);

/** The fix for a gVisor runtime that lacks a flag: the daemon.json line, and `warmbox doctor`. */
export function runscFix(name: string): string {
  return (
    `register it in /etc/docker/daemon.json as ${gvisorRuntimeEntry(name)} ` +
    `and reload the engine (kill -HUP the dockerd process), or run \`sudo npx warmbox doctor --fix-runtime ${name}\``
  );
}

/**
 * Reads the engine's runtimes and checks `name` among them: rejects with RuntimeNotFoundError
 * when the engine does not have it, and RuntimeMisconfiguredError when it is gVisor without
 * the flags warmbox needs. A check before any container is created, so that a wrong set-up is
 * an error that names its fix, not a container that never becomes ready.
 */
export async function checkRuntime(docker: Docker, name: string): Promise<RuntimeInfo> {
  let runtimes: EngineRuntimes;
  try {
    runtimes = ((await docker.info()) as { Runtimes?: EngineRuntimes }).Runtimes ?? {};
  } catch (error) {
    throw dockerFailed('list its runtimes', error);
  }
  return inspectRuntime(name, runtimes);
}

/** The pure part of checkRuntime, for a runtime list read already. */
export function inspectRuntime(name: string, runtimes: EngineRuntimes): RuntimeInfo {
  const entry = Object.hasOwn(runtimes, name) ? runtimes[name] : undefined;
  if (entry === undefined) throw new RuntimeNotFoundError(name, Object.keys(runtimes));
  const args = entry.runtimeArgs ?? [];
  const path = entry.path;
  const kind: RuntimeKind = isGvisor(name, path) ? 'gvisor' : 'runc';
  if (kind === 'gvisor') {
    const flags = parseGoFlags(args);
    const hostUds = flags.get('host-uds') ?? (isTrue(flags.get('fsgofer-host-uds')) ? 'all' : undefined);
    if (hostUds === undefined || !HOST_UDS_CREATE.has(hostUds)) {
      throw new RuntimeMisconfiguredError(
        name,
        gvisorFlag('host-uds'),
        `it runs without ${gvisorFlag('host-uds')} (or create)${hostUds === undefined ? '' : `: it has --host-uds=${hostUds}`}, so the agent's socket would exist only inside gVisor and the host could never reach it`,
        runscFix(name),
      );
    }
    if (flags.get('network') !== GVISOR_FLAG_VALUES.network) {
      throw new RuntimeMisconfiguredError(
        name,
        gvisorFlag('network'),
        `it runs without ${gvisorFlag('network')}${flags.has('network') ? ` (it has --network=${flags.get('network')})` : ''}, and runsc refuses to start a container without a network in the engine's own network namespace`,
        runscFix(name),
      );
    }
  }
  return { name, kind, path, args: Object.freeze([...args]) };
}

/**
 * A job's own limits that a runtime cannot apply, refused with InvalidArgumentError naming the
 * job's field before the job gets a container: under gVisor, any (runsc cannot change a
 * running container's limits, as the engine's update call would).
 */
export function checkJobLimitsFor(runtime: RuntimeInfo, limits: { readonly memoryLimitMb: number; readonly pidsLimit: number }, pool: { readonly memoryLimitMb: number }): void {
  if (runtime.kind !== 'gvisor') return;
  const field = limits.memoryLimitMb === pool.memoryLimitMb ? 'job.pidsLimit' : 'job.memoryLimitMb';
  throw new InvalidArgumentError(field, `cannot differ from the sandbox's under the gVisor runtime ${runtime.name}, which cannot change a running container's limits`);
}

/** Whether a runtime is gVisor: its binary is runsc, or the engine gives it runsc's name. */
export function isGvisor(name: string, path: string | undefined): boolean {
  return (path?.split('/').pop() ?? name) === 'runsc';
}

/**
 * Go's flag syntax, as runsc reads it: `-name`, `--name`, `-name=value`, `--name value`. A
 * flag given twice keeps its last value, as in Go. Stops at the first argument that is not a
 * flag, or after `--`.
 */
export function parseGoFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--' || !arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    if (eq !== -1) {
      flags.set(body.slice(0, eq), body.slice(eq + 1));
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('-') && !BOOLEAN_FLAGS.has(body)) {
      flags.set(body, args[++i]!);
    } else {
      flags.set(body, 'true');
    }
  }
  return flags;
}

// runsc's boolean flags that warmbox may meet in a runtime's arguments: Go lets them take no
// value, so what follows them is the next flag, not their value.
const BOOLEAN_FLAGS = new Set(['debug', 'strace', 'cgroupfs', 'ignore-cgroups', 'rootless', 'fsgofer-host-uds', 'overlay', 'systemd-cgroup', 'net-raw', 'nvproxy', 'tpuproxy', 'directfs']);

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1' || value === 't' || value === 'T' || value === 'TRUE' || value === 'True';
}

/** The engine's usual runtime, as checkRuntime describes it. */
export const RUNC: RuntimeInfo = Object.freeze({ name: 'runc', kind: 'runc', path: undefined, args: Object.freeze([]) });
