import { rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { isGone } from './docker.js';

/**
 * Removes a container (killing it if it runs) and its socket directory. Idempotent: a
 * container that is already gone, or already being removed, counts as removed.
 */
export async function removeContainer(docker: Docker, id: string | undefined, ioDir: string | undefined): Promise<void> {
  try {
    if (id !== undefined) await docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    if (!isGone(error)) throw error;
  } finally {
    if (ioDir !== undefined) await rm(ioDir, { recursive: true, force: true });
  }
}
