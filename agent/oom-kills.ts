import { readFileSync } from 'node:fs';

// The container's own memory cgroup, as Docker mounts it inside: cgroup v2, then v1. Both
// count the OOM killer's kills in a line `oom_kill N` (v1 since Linux 4.13).
const COUNTER_FILES = ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'];

/**
 * How many processes the kernel's OOM killer has killed in this container's memory cgroup,
 * or null where no counter can be read. Comparing it before and after a job tells a program
 * killed for the memory limit from one that merely died of SIGKILL.
 */
export function readOomKillCount(files: readonly string[] = COUNTER_FILES): number | null {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const match = /^oom_kill (\d+)$/m.exec(text);
    if (match) return Number(match[1]);
  }
  return null;
}
