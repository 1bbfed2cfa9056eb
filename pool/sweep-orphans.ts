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
 * gone, never another live process's pool. Returns how many it removed.
 */
export async function sweepOrphans(docker: Docker): Promise<number> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: [LABELS.managed] } });
  } catch (error) {
    throw dockerFailed('list containers', error);
  }
  const orphans = containers.filter((c) => isOwnerGone(c.Labels[LABELS.owner] ?? ''));
  await Promise.all(
    orphans.map(async (c) => {
      // Only a directory shaped like the ones warmbox makes is deleted on a label's word.
      const labelled = c.Labels[LABELS.ioDir];
      const ioDir = labelled && basename(dirname(labelled)).startsWith('warmbox-') ? labelled : undefined;
      await removeContainer(docker, c.Id, ioDir);
      // The dead process's pool directory, once its last container is gone.
      if (ioDir) await rmdir(dirname(ioDir)).catch(() => {});
      log('removed container %s left by %s', c.Id, c.Labels[LABELS.owner]);
    }),
  );
  return orphans.length;
}
