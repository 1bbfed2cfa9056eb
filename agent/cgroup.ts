import { readdirSync, readFileSync } from 'node:fs';

/** What the agent reads from the container's own cgroup, as Docker mounts it inside. */
export interface CgroupCounters {
  /** How many processes the OOM killer has killed in the memory cgroup; null if unreadable. */
  oomKills(): number | null;
  /** CPU time used by everything in the container, in microseconds; null if unreadable. */
  cpuUsageUs(): number | null;
  /** The memory charged to the container that the kernel cannot reclaim, in bytes; null if unreadable. */
  unreclaimableBytes(): number | null;
}

// cgroup v2 first, then v1. Both count OOM kills in a line `oom_kill N` (v1 since Linux 4.13).
const OOM_FILES = ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'];
const CPU_V2 = '/sys/fs/cgroup/cpu.stat';
const CPU_V1 = ['/sys/fs/cgroup/cpuacct/cpuacct.usage', '/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage'];
const MEMORY_V2 = { usage: '/sys/fs/cgroup/memory.current', stat: '/sys/fs/cgroup/memory.stat' };
const MEMORY_V1 = { usage: '/sys/fs/cgroup/memory/memory.usage_in_bytes', stat: '/sys/fs/cgroup/memory/memory.stat' };

// /proc's times are in USER_HZ ticks, 100 a second on every Linux ABI, and in gVisor's.
const MICROSECONDS_PER_TICK = 10_000;

/**
 * The counters of the cgroup the agent runs in: only meaningful inside its container. Where
 * the runtime shows no cgroup (gVisor, whose kernel is the container's own), CPU time is that
 * kernel's account of every process in it, read from /proc; OOM kills there end the whole
 * container, which the host hears from the engine.
 */
export const containerCgroup: CgroupCounters = {
  oomKills: () => readOomKillCount(OOM_FILES),
  cpuUsageUs: () => readCpuUsageUs(CPU_V2, CPU_V1) ?? readProcCpuUs('/proc'),
  unreclaimableBytes: () => readUnreclaimableBytes(MEMORY_V2) ?? readUnreclaimableBytes(MEMORY_V1),
};

/**
 * What a memory cgroup holds that the kernel cannot give back under pressure: its usage (in
 * v1, memory.usage_in_bytes; in v2, memory.current, kernel memory included in both) less its
 * page cache of files, which is reclaimed before the OOM killer acts. Files on tmpfs (shmem)
 * are page cache that cannot be reclaimed without swap: they stay counted. v2's stat calls
 * the page cache `file`, v1's `cache`; both count shmem in it.
 */
export function readUnreclaimableBytes(files: { readonly usage: string; readonly stat: string }): number | null {
  const usage = readOrEmpty(files.usage).trim();
  if (!/^\d+$/.test(usage)) return null;
  const stat = readOrEmpty(files.stat);
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  const cache = field('file') || field('cache');
  return Number(usage) - cache + field('shmem');
}

/**
 * Reads the OOM killer's count from the first file that has one. Comparing it before and
 * after a job tells a program killed for the memory limit from one that merely died of
 * SIGKILL.
 */
export function readOomKillCount(files: readonly string[]): number | null {
  for (const file of files) {
    const match = /^oom_kill (\d+)$/m.exec(readOrEmpty(file));
    if (match) return Number(match[1]);
  }
  return null;
}

/** Reads CPU usage: v2's `usage_usec` in cpu.stat, else v1's cpuacct.usage in nanoseconds. */
export function readCpuUsageUs(v2File: string, v1Files: readonly string[]): number | null {
  const v2 = /^usage_usec (\d+)$/m.exec(readOrEmpty(v2File));
  if (v2) return Number(v2[1]);
  for (const file of v1Files) {
    const text = readOrEmpty(file).trim();
    if (/^\d+$/.test(text)) return Number(text) / 1000;
  }
  return null;
}

/**
 * A process's own memory that no one else holds: its anonymous pages and its page tables,
 * from /proc/PID/status; null if unreadable.
 */
export function readProcessMemory(statusFile: string): number | null {
  const status = readOrEmpty(statusFile);
  const kib = (name: string) => new RegExp(`^${name}:\\s*(\\d+) kB$`, 'm').exec(status)?.[1];
  const anon = kib('RssAnon');
  return anon === undefined ? null : (Number(anon) + Number(kib('VmPTE') ?? 0)) * 1024;
}

/**
 * The CPU time of every process in a pid namespace of its own, from each one's
 * /proc/PID/stat: its own time and that of the children it has waited for. A process that
 * ends moves its times into its reaper's, so the sum only loses what no one waits for.
 * Null if /proc shows no process.
 */
export function readProcCpuUs(proc: string): number | null {
  let ticks = 0;
  let seen = 0;
  for (const name of readdirOrEmpty(proc)) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOrEmpty(`${proc}/${name}/stat`);
    // Fields 14 to 17 (utime, stime, cutime, cstime), counted after the command name, which may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const times = fields.slice(11, 15).map(Number);
    if (times.length !== 4 || times.some((n) => !Number.isFinite(n))) continue;
    ticks += times.reduce((sum, n) => sum + n, 0);
    seen++;
  }
  return seen === 0 ? null : ticks * MICROSECONDS_PER_TICK;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
