import { Agent } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import { AbortError, DockerError, DockerUnavailableError, ImageNotFoundError } from '../contract/errors.js';
import { DEFAULTS } from './options.js';

/**
 * Connects to the Docker engine and checks it answers, with one clear error where it does
 * not. Every call through the returned client has a deadline of `timeoutMs`, but for those
 * that last as long as what they follow (a container's wait or attach, events, a build): an
 * engine that takes connections and never answers is an error, not a hang.
 */
export async function connectDocker(options: Docker.DockerOptions, timeoutMs: number = DEFAULTS.dockerTimeoutMs): Promise<Docker> {
  // Over the engine's Unix socket, connections of its own, which disconnectDocker() ends: the
  // process's global agent would keep them open after the Sandbox is gone.
  // docker-modem takes `agent`, which @types/dockerode leaves out.
  const given = (options as { agent?: Agent }).agent;
  const agent = given === undefined && onUnixSocket(options) ? new Agent({ keepAlive: true }) : undefined;
  const docker = withDeadlines(new Docker(agent === undefined ? options : ({ ...options, agent } as Docker.DockerOptions)), timeoutMs);
  if (agent !== undefined) OWN_AGENTS.set(docker, agent);
  try {
    await docker.ping();
  } catch (error) {
    const where = describeEndpoint(options);
    throw new DockerUnavailableError(
      `no Docker engine answered at ${where}: ${isDeadline(error) ? `no answer within ${timeoutMs} ms` : (error as Error).message}. ` +
        'Start the engine (for example `sudo systemctl start docker`, or `dockerd`), ' +
        'or point DOCKER_HOST or the option docker at one that runs.',
      { cause: error },
    );
  }
  return docker;
}

const OWN_AGENTS = new WeakMap<Docker, Agent>();

/** Ends the connections to the engine that connectDocker made for `docker` (none of a caller's own agent). */
export function disconnectDocker(docker: Docker): void {
  OWN_AGENTS.get(docker)?.destroy();
}

function onUnixSocket(options: Docker.DockerOptions): boolean {
  if (options.socketPath !== undefined) return true;
  if (options.host !== undefined) return false;
  return process.env.DOCKER_HOST === undefined || process.env.DOCKER_HOST.startsWith('unix://');
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
  if (isDeadline(error)) return new DockerError(`the Docker engine did not answer in time to ${doing} (dockerTimeoutMs)`, { cause: error });
  return new DockerError(`the Docker engine failed to ${doing}: ${(error as Error).message}`, { cause: error });
}

type Dial = (options: { path?: string; isStream?: boolean; hijack?: boolean; abortSignal?: AbortSignal }, callback: unknown) => unknown;

// Calls that last as long as what they follow, by their API path.
const LONG_CALL = /\/(wait|attach|events|build)(\?|$)/;

/**
 * docker-modem takes an AbortSignal per call but sets none by itself, and its own `timeout`
 * would also cut a container's wait. Every call goes through its `dial`, so the deadline is
 * set there, once, for the calls warmbox makes today and any it makes later.
 */
function withDeadlines(docker: Docker, timeoutMs: number): Docker {
  const modem = docker.modem as unknown as { dial: Dial };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    if (options.abortSignal === undefined && !options.isStream && !options.hijack && !LONG_CALL.test(options.path ?? '')) {
      options.abortSignal = AbortSignal.timeout(timeoutMs);
    }
    return dial(options, callback);
  };
  return docker;
}

/**
 * For a call that failed because the engine could not be reached (its socket gone or
 * refusing): a promise that resolves once it answers a ping again,
 * asked every `everyMs`. For any other failure, undefined. Settles once `signal` aborts.
 */
export function engineBack(docker: Docker, error: unknown, signal: AbortSignal, everyMs = 250): Promise<void> | undefined {
  if (!isUnreachable(docker, error)) return undefined;
  return (async () => {
    while (!signal.aborted) {
      try {
        // Its own signal, so that no ping outlives the wait (dockerode's types omit the options).
        await (docker as unknown as { ping(options: { abortSignal: AbortSignal }): Promise<unknown> }).ping({ abortSignal: signal });
        return;
      } catch {
        await delay(everyMs, undefined, { signal }).catch(() => {});
      }
    }
    throw new AbortError(signal.reason);
  })();
}

/**
 * Whether a failure, or one of its causes, is a connection to this engine that failed: its
 * socket gone or refusing. Not a connection to anything else (an agent's socket), and not a
 * file warmbox could not write.
 */
export function isUnreachable(docker: Docker, error: unknown): boolean {
  const { socketPath, port } = docker.modem as { socketPath?: string; port?: string | number };
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const { syscall, address, port: causePort } = cause as NodeJS.ErrnoException & { address?: string; port?: number };
    if (syscall !== 'connect') continue;
    if (socketPath ? address === socketPath : causePort !== undefined && causePort === Number(port)) return true;
  }
  return false;
}

function isDeadline(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** A 404 from the engine: no such container or image. */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/**
 * Whether the engine failed to remove a container only because its root filesystem was still
 * mounted somewhere (overlay2's "device or resource busy", moby/moby#32461): moby reports the
 * same removal succeeding once the process that held it is gone.
 */
export function isBusy(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 500 && /device or resource busy/.test(String((error as Error).message));
}

/** A 404 or 409 from the engine: the container is already gone or already being removed. */
export function isGone(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
}
