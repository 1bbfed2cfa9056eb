import { rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { dockerFailed, isGone } from './docker.js';

/**
 * Removes a container (killing it if it runs), then its io directory. Idempotent: a
 * container that is already gone, or already being removed, counts as removed. Both are
 * attempted whatever the other does; if both fail, the engine's error is the one thrown,
 * because a directory left behind matters less than a container left running.
 */
export async function removeContainer(docker: Docker, id: string | undefined, ioDir: string | undefined): Promise<void> {
  let failure: unknown;
  if (id !== undefined) {
    await docker
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch((error: unknown) => {
        if (!isGone(error)) failure = dockerFailed(`remove the container ${id}`, error);
      });
  }
  if (ioDir !== undefined) {
    await rm(ioDir, { recursive: true, force: true }).catch((error: unknown) => {
      failure ??= error;
    });
  }
  if (failure !== undefined) throw failure;
}
