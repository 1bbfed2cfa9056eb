import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Labels on every container warmbox creates: what sweeps and `docker ps` go by. */
export const LABELS = {
  /** Present on every warmbox container. */
  managed: 'io.warmbox.managed',
  /** The Sandbox instance that made it. */
  pool: 'io.warmbox.pool',
  /** The process that made it: `host:pid:start-time`, so a reused pid is not mistaken for it. */
  owner: 'io.warmbox.owner',
  /** The host directory bind-mounted for its socket, removed with it. */
  ioDir: 'io.warmbox.io-dir',
} as const;

/** This process, as the owner label names it. */
export const OWNER = ownerOf(process.pid);

/** `host:pid:start-time` of a live process, or undefined when it does not exist. */
export function ownerOf(pid: number): string | undefined {
  let startTime = '';
  try {
    // Field 22 of /proc/PID/stat, counted after the command name, which may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    if (process.platform === 'linux') return undefined;
  }
  return `${hostname()}:${pid}:${startTime}`;
}

/** Whether the process an owner label names is gone; owners on other hosts are never judged. */
export function isOwnerGone(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || pid === undefined || !/^\d+$/.test(pid)) return false;
  return ownerOf(Number(pid)) !== owner;
}
