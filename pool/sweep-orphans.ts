import { rmdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { dockerFailed } from './docker.js';
import { isOwnerGone, LABELS } from './labels.js';
import { removeContainer } from './remove-container.js';

const log = debuglog('warmbox');

/**
 * Removes the containers, and their socket directories, that an earlier warmbox process on
 * this host left behind when it died without closing: only those whose owner process is
 * gone, never another live process's pool. What it cannot remove (a directory another user
 * owns, a container the engine refuses to remove) is logged and left: a leftover of someone
 * else's must not stop this process from starting. Returns how many containers it removed.
 */
export async function sweepOrphans(docker: Docker): Promise<number> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: [LABELS.managed] } });
  } catch (error) {
    throw dockerFailed('list containers', error);
  }
  const orphans = containers.filter((c) => isOwnerGone(c.Labels[LABELS.owner] ?? ''));
  const outcomes = await Promise.allSettled(
    orphans.map(async (c) => {
      // Only a directory shaped like the ones warmbox makes is deleted on a label's word.
      const labelled = c.Labels[LABELS.ioDir];
      const ioDir = labelled && basename(dirname(labelled)).startsWith('warmbox-') ? labelled : undefined;
      try {
        await removeContainer(docker, c.Id, ioDir);
      } finally {
        // The dead process's pool directory, once its last container is gone.
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
