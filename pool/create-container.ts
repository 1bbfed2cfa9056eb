import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { AGENT_IO_DIR, AGENT_MEMORY_MARGIN_MB, AGENT_MEMORY_MB, AGENT_TASKS, PROGRAM_UID, WORK_DIR } from '../contract/layout.js';
import { LABELS } from '../contract/labels.js';
import { MIB } from '../contract/limits.js';
import type { ResolvedOptions } from './options.js';
import { GVISOR_HOST_TASKS, GVISOR_HOST_TASKS_PER_TASK, GVISOR_MEMORY_MB, type RuntimeInfo } from './runtime.js';

export interface ContainerSpec {
  readonly image: string;
  /** The engine's runtime, checked at initialize(). */
  readonly runtime: RuntimeInfo;
  readonly poolId: string;
  /** Who made it, for a later process's sweep: `ownerLabels()`. */
  readonly ownerLabels: Readonly<Record<string, string>>;
  /** The host directory that holds the agent's socket. */
  readonly ioDir: string;
  readonly options: ResolvedOptions;
  /** The agent's share of memory, as the last agent of the pool measured it: see AgentMemory. */
  readonly agentMemory: AgentMemory;
}

/**
 * The agent's share of a container's memory, in bytes, as the last of a pool's agents
 * measured it when ready (AGENT_MEMORY_MB until one has): the next container is created with
 * it, so that only a container whose agent measures differently has its limit changed.
 */
export class AgentMemory {
  bytes = AGENT_MEMORY_MB * MIB;
}

/** Creates (but does not start) one hardened container for one job. */
export async function createContainer(docker: Docker, spec: ContainerSpec): Promise<Docker.Container> {
  return docker.createContainer(containerConfig(spec));
}

/** The program's limits, as a pool sets them for every job or a job sets them for itself. */
export interface ProgramLimits {
  readonly memoryLimitMb: number;
  readonly pidsLimit: number;
}

/**
 * The engine's memory and pids limits of a container whose program has `limits`: the
 * program's own plus the agent's share (`agentBytes`, measured; under gVisor, a fixed share
 * and the Sentry's), and the agent's margin for a job, so that the options are the program's
 * alone (MEMORY_TOLERANCE_MB).
 */
export function containerLimits(runtime: RuntimeInfo, limits: ProgramLimits, agentBytes: number): { Memory: number; MemorySwap: number; PidsLimit: number } {
  const gvisor = runtime.kind === 'gvisor';
  const memoryBytes = (limits.memoryLimitMb + AGENT_MEMORY_MARGIN_MB + (gvisor ? GVISOR_MEMORY_MB : 0)) * MIB + agentBytes;
  const tasks = limits.pidsLimit + AGENT_TASKS;
  return {
    Memory: memoryBytes,
    // Equal to Memory: no swap, so the limit is hit, and seen, rather than paged around.
    MemorySwap: memoryBytes,
    PidsLimit: gvisor ? GVISOR_HOST_TASKS + GVISOR_HOST_TASKS_PER_TASK * tasks : tasks,
  };
}

export function containerConfig({ image, runtime, poolId, ownerLabels, ioDir, options, agentMemory }: ContainerSpec): Docker.ContainerCreateOptions {
  const limits = containerLimits(runtime, options, agentMemory.bytes);
  // `exec` said outright: the engine mounts a tmpfs noexec unless told otherwise.
  const tmpfs = `rw,nosuid,nodev,${options.allowExec ? 'exec' : 'noexec'}`;
  // As the engine would name it (12 hex digits), chosen here so that /etc/hosts can say it.
  const hostname = randomBytes(6).toString('hex');
  return {
    Image: image,
    Labels: {
      [LABELS.managed]: 'true',
      [LABELS.pool]: poolId,
      ...ownerLabels,
      [LABELS.ioDir]: ioDir,
    },
    // The host reaches the agent through a Unix socket in a bind-mounted directory, so the
    // container needs no network at all: NetworkMode none, where only `lo` exists inside.
    // Not NetworkDisabled as well, which would leave /etc/hosts empty: `localhost` and the
    // container's own name must resolve, as they do for `python3 main.py`.
    Hostname: hostname,
    HostConfig: {
      NetworkMode: 'none',
      ExtraHosts: [`${hostname}:127.0.0.1`],
      Binds: [`${ioDir}:${AGENT_IO_DIR}`],
      ...limits,
      Runtime: runtime.name,
      ReadonlyRootfs: true,
      // /dev/shm is the third place the program can write; it is as small as /tmp.
      ShmSize: options.tmpSizeMb * MIB,
      Tmpfs: {
        [WORK_DIR]: `${tmpfs},size=${options.workDirSizeMb}m,uid=${PROGRAM_UID},gid=${PROGRAM_UID},mode=0700`,
        '/tmp': `${tmpfs},size=${options.tmpSizeMb}m,mode=1777`,
      },
      // The agent runs as root to start the program as PROGRAM_UID (SETUID, SETGID), to kill
      // every process of it (KILL), and to read the files a job returns whatever their mode
      // (DAC_READ_SEARCH: read, never write); it needs nothing else. The program, started as
      // PROGRAM_UID under no-new-privileges, holds none of these.
      CapDrop: ['ALL'],
      CapAdd: ['SETUID', 'SETGID', 'KILL', 'DAC_READ_SEARCH'],
      SecurityOpt: ['no-new-privileges'],
      // PID 1 is Docker's init, which reaps the zombies a program may leave.
      Init: true,
      IpcMode: 'private',
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}
