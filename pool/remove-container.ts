import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { backoffDelayMs, REMOVAL_ATTEMPTS, REMOVAL_BACKOFF } from './backoff.js';
import { dockerFailed, isBusy, isGone } from './docker.js';

const log = debuglog('warmbox');

/**
 * Removes a container (killing it if it runs), then its io directory. Idempotent: a
 * container that is already gone, or already being removed, counts as removed. Both are
 * attempted whatever the other does; if both fail, the engine's error is the one thrown,
 * because a directory left behind matters less than a container left running.
 */
export async function removeContainer(docker: Docker, id: string | undefined, ioDir: string | undefined): Promise<void> {
  let failure: unknown;
  if (id !== undefined) {
    await removeFromEngine(docker, id).catch((error: unknown) => {
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

/** The engine's removal, asked again while it fails only because the filesystem is still busy. */
async function removeFromEngine(docker: Docker, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      if (!isBusy(error) || attempt + 1 >= REMOVAL_ATTEMPTS) throw error;
      const delayMs = backoffDelayMs(attempt, REMOVAL_BACKOFF);
      log('container %s: its filesystem is still busy; removing it again in %d ms', id, delayMs);
      await sleep(delayMs);
    }
  }
}
