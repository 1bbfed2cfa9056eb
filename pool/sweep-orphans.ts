import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { dockerFailed } from './docker.js';
import { DockerError } from '../contract/errors.js';
import { LABELS } from '../contract/labels.js';
import { isOwnerGone } from './labels.js';
import { removeContainer } from './remove-container.js';

const log = debuglog('warmbox');

/** What every pool directory is called: `warmbox-` and mkdtemp's six characters. */
export const POOL_DIR_PREFIX = 'warmbox-';
/** The file in a pool directory that names its owner, as the containers' labels do. */
export const OWNER_FILE = 'owner.json';

/**
 * Removes what earlier warmbox processes left behind when they died without closing: their
 * containers on this engine, and their pool directories under `socketRoot`, even those no
 * container points to any more (a process killed between removing a container and its
 * directory, or while preparing one). Only what a dead owner made, never another live
 * process's pool. What it cannot remove (a directory another user owns, a container the
 * engine refuses to remove) is logged and left: a leftover of someone else's must not stop
 * this process from starting. Returns how many containers it removed.
 */
export async function sweepOrphans(docker: Docker, socketRoot: string): Promise<number> {
  const isGone = ownerVerdicts(docker);
  const removed = await sweepContainers(docker, isGone);
  await sweepPoolDirectories(socketRoot, isGone);
  return removed;
}

/**
 * Removes one live pool's containers that are no longer of use: those the engine stopped
 * (`exited` or `dead`), or with `all`, every one. A container the engine stopped with itself
 * (a restart) can outlive the removal that was asked for it, when the engine took the request
 * and stopped before finishing it. Only containers: their io directories are the pool's
 * to remove, and may still be read by a job ending. Rejects with a DockerError naming what
 * it could not remove.
 */
export async function sweepPool(docker: Docker, poolId: string, { all = false } = {}): Promise<void> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.pool}=${poolId}`], ...(all ? {} : { status: ['exited', 'dead'] }) },
    });
  } catch (error) {
    throw dockerFailed('list the pool\'s containers', error);
  }
  const outcomes = await Promise.allSettled(containers.map((c) => removeContainer(docker, c.Id, undefined)));
  const failed = containers.filter((_, i) => outcomes[i]!.status === 'rejected');
  if (failed.length > 0) {
    const first = (outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason as Error;
    throw new DockerError(`could not remove the container(s) ${failed.map((c) => c.Id.slice(0, 12)).join(', ')}: ${first.message}`, { cause: first });
  }
  if (containers.length > 0) log('removed %d stopped container(s) of pool %s', containers.length, poolId);
}

type OwnerVerdict = (labels: Record<string, string>) => Promise<boolean>;

/**
 * isOwnerGone, asked once per owner in a sweep: a pool's containers and its directory share
 * their owner, whose verdict may cost an inspect of the container it ran in.
 */
function ownerVerdicts(docker: Docker): OwnerVerdict {
  const verdicts = new Map<string, Promise<boolean>>();
  return (labels) => {
    const key = JSON.stringify([labels[LABELS.owner], labels[LABELS.ownerPidNamespace], labels[LABELS.ownerContainer]]);
    let verdict = verdicts.get(key);
    if (verdict === undefined) verdicts.set(key, (verdict = isOwnerGone(docker, labels)));
    return verdict;
  };
}

async function sweepContainers(docker: Docker, isGone: OwnerVerdict): Promise<number> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: [LABELS.managed] } });
  } catch (error) {
    throw dockerFailed('list containers', error);
  }
  const gone = await Promise.all(containers.map((c) => isGone(c.Labels)));
  const orphans = containers.filter((_, i) => gone[i]);
  const outcomes = await Promise.allSettled(
    orphans.map(async (c) => {
      // Only a directory shaped like the ones warmbox makes is deleted on a label's word.
      const labelled = c.Labels[LABELS.ioDir];
      const ioDir = labelled && basename(dirname(labelled)).startsWith(POOL_DIR_PREFIX) ? labelled : undefined;
      try {
        await removeContainer(docker, c.Id, ioDir);
      } finally {
        // The dead process's pool directory, once its last container is gone; one with an
        // owner file goes whole in the next step.
        if (ioDir) await rmdir(dirname(ioDir)).catch(() => {});
      }
      log('removed container %s left by %s', c.Id, c.Labels[LABELS.owner]);
    }),
  );
  let removed = 0;
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') removed++;
    else log('could not remove all that %s left (container %s): %o', orphans[i]!.Labels[LABELS.owner], orphans[i]!.Id, outcome.reason);
  });
  return removed;
}

/** Pool directories whose owner file names a process that is gone. */
async function sweepPoolDirectories(socketRoot: string, isGone: OwnerVerdict): Promise<void> {
  const names = await readdir(socketRoot).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(POOL_DIR_PREFIX))
      .map(async (name) => {
        const dir = join(socketRoot, name);
        let owner: Record<string, string>;
        try {
          owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as Record<string, string>;
        } catch {
          // No owner file: not a pool directory, or one whose owner is still writing it.
          return;
        }
        if (typeof owner !== 'object' || owner === null || !(await isGone(owner))) return;
        await rm(dir, { recursive: true, force: true }).then(
          () => log('removed pool directory %s left by %s', dir, owner[LABELS.owner]),
          (error: unknown) => log('could not remove pool directory %s: %o', dir, error),
        );
      }),
  );
}
