import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { LABELS } from '../contract/labels.js';
import { dockerFailed, isNotFound } from './docker.js';

/** This process, as the owner label names it. */
export const OWNER = ownerOf(process.pid);

const PID_NAMESPACE = pidNamespace();

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

/** The owner labels of the containers this process makes on this engine. */
export async function ownerLabels(docker: Docker): Promise<Record<string, string>> {
  const labels: Record<string, string> = { [LABELS.owner]: OWNER ?? '' };
  if (PID_NAMESPACE !== undefined) labels[LABELS.ownerPidNamespace] = PID_NAMESPACE;
  const container = await ownContainer(docker);
  if (container !== undefined) labels[LABELS.ownerContainer] = container;
  return labels;
}

/**
 * Whether the process that made a container is gone, judged only where it can be:
 * - in this pid namespace, by its pid and start time, on this host only;
 * - in another, by the engine: the container it ran in is gone, stopped, or started again
 *   since (a restart is a new pid namespace, so the owner died with the old one);
 * - otherwise never: a live pool of a process this one cannot see must not be swept.
 */
export async function isOwnerGone(docker: Docker, labels: Record<string, string>): Promise<boolean> {
  const owner = labels[LABELS.owner] ?? '';
  const namespace = labels[LABELS.ownerPidNamespace];
  if (namespace === undefined || namespace === PID_NAMESPACE) {
    const [host, pid] = owner.split(':');
    if (host !== hostname() || pid === undefined || !/^\d+$/.test(pid)) return false;
    return ownerOf(Number(pid)) !== owner;
  }
  const container = labels[LABELS.ownerContainer];
  if (container === undefined) return false;
  const [id, startedAt] = container.split('@');
  return !(await isRunningSince(docker, id!, startedAt));
}

async function isRunningSince(docker: Docker, id: string, startedAt: string | undefined): Promise<boolean> {
  try {
    const { State } = await docker.getContainer(id).inspect();
    return State.Running && State.StartedAt === startedAt;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw dockerFailed(`inspect container ${id}`, error);
  }
}

/**
 * The container this process runs in, as `id@started-at`, when the engine it talks to runs
 * it. The engine bind-mounts each container's hostname file from a directory named after the
 * container's id, which /proc/self/mountinfo shows under cgroup v1 and v2 alike.
 */
async function ownContainer(docker: Docker): Promise<string | undefined> {
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  const ids = new Set([...mountinfo.matchAll(/\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)\s/g)].map((m) => m[1]!));
  for (const id of ids) {
    try {
      const { State } = await docker.getContainer(id).inspect();
      if (State.Running) return `${id}@${State.StartedAt}`;
    } catch (error) {
      // Another engine's container: this engine cannot judge it, so it is not named.
      if (!isNotFound(error)) throw dockerFailed(`inspect container ${id}`, error);
    }
  }
  return undefined;
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}
