import Docker from 'dockerode';
import { DockerError, DockerUnavailableError, ImageNotFoundError } from './errors.js';

/** Connects to the Docker engine and checks it answers, with one clear error where it does not. */
export async function connectDocker(options: Docker.DockerOptions): Promise<Docker> {
  const docker = new Docker(options);
  try {
    await docker.ping();
  } catch (error) {
    const where = describeEndpoint(options);
    throw new DockerUnavailableError(
      `no Docker engine answered at ${where}: ${(error as Error).message}. ` +
        'Start the engine (for example `sudo systemctl start docker`, or `dockerd`), ' +
        'or point DOCKER_HOST or the option docker at one that runs.',
      { cause: error },
    );
  }
  return docker;
}

function describeEndpoint(options: Docker.DockerOptions): string {
  if (options.socketPath) return String(options.socketPath);
  if (options.host) return `${options.protocol ?? 'http'}://${options.host}:${options.port ?? ''}`;
  return process.env.DOCKER_HOST ? `${process.env.DOCKER_HOST} (DOCKER_HOST)` : '/var/run/docker.sock';
}

/** Whether the image is on the engine; any failure but "no such image" is a DockerError. */
export async function imageExists(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw dockerFailed(`inspect the image ${image}`, error);
  }
}

/** Rejects with ImageNotFoundError unless the image is on the engine. */
export async function assertImageExists(docker: Docker, image: string, isDefault: boolean): Promise<void> {
  if (!(await imageExists(docker, image))) throw new ImageNotFoundError(image, isDefault);
}

/** Wraps an engine's failure in DockerError, saying what warmbox was doing. */
export function dockerFailed(doing: string, error: unknown): DockerError {
  return new DockerError(`the Docker engine failed to ${doing}: ${(error as Error).message}`, { cause: error });
}

/** A 404 from the engine: no such container or image. */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/** A 404 or 409 from the engine: the container is already gone or already being removed. */
export function isGone(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
}
