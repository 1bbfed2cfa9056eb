import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { Client, errors as undiciErrors } from 'undici';
import type { AgentRunRequest, AgentRunResponse, PythonError } from '../agent/protocol.js';
import { createContainer, type ContainerSpec } from './create-container.js';
import { AbortError, AgentProtocolError, ContainerStartError, WarmboxError } from './errors.js';
import type { RunResult } from './job.js';
import { removeContainer } from './remove-container.js';
import { waitForAgent } from './wait-for-agent.js';

const log = debuglog('warmbox');

// How long past the job's own timeout the host waits for the agent's answer before it kills
// the container itself: the agent needs a moment to kill the program, collect its output
// and answer.
const HOST_DEADLINE_GRACE_MS = 2000;
// After the agent's connection dropped, how long to wait for the container to exit before
// asking Docker why.
const EXIT_WAIT_MS = 2000;

interface ExitStatus {
  readonly StatusCode: number;
}

/**
 * One started container whose agent is ready for its one job. Made by `startWarmContainer`,
 * used once by `run`, then removed.
 */
export class WarmContainer {
  #alive = true;
  #retired = false;

  private constructor(
    private readonly docker: Docker,
    readonly id: string,
    readonly ioDir: string,
    private readonly client: Client,
    private readonly exited: Promise<ExitStatus>,
  ) {
    exited.then(
      () => (this.#alive = false),
      () => (this.#alive = false),
    );
  }

  /** Creates and starts a container, and resolves once its agent is ready. */
  static async start(docker: Docker, spec: ContainerSpec, startupTimeoutMs: number): Promise<WarmContainer> {
    await makeIoDir(spec.ioDir);
    let container: Docker.Container | undefined;
    try {
      container = await createContainer(docker, spec);
      await container.start();
      const exited = container.wait({ condition: 'not-running' }) as Promise<ExitStatus>;
      // Keep an early failure of the wait from being unhandled; waitForAgent reports it.
      exited.catch(() => {});
      const socketPath = await waitForAgent(spec.ioDir, exited, startupTimeoutMs);
      const client = new Client('http://agent', { socketPath, pipelining: 0 });
      return new WarmContainer(docker, container.id, spec.ioDir, client, exited);
    } catch (error) {
      await removeContainer(docker, container?.id, spec.ioDir).catch((cleanupError: unknown) =>
        log('could not remove container %s after a failed start: %o', container?.id, cleanupError),
      );
      if (error instanceof WarmboxError) throw error;
      throw new ContainerStartError(`a container did not start: ${(error as Error).message}`, { cause: error });
    }
  }

  /** False once the container has exited, for whatever reason. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Calls back once if the container exits before `remove` was called: killed from outside. */
  onUnexpectedExit(listener: () => void): void {
    const check = () => {
      if (!this.#retired) listener();
    };
    this.exited.then(check, check);
  }

  /** Runs the one job. Resolves with a result whatever the program did. */
  async run(request: AgentRunRequest, signal: AbortSignal | undefined): Promise<RunResult> {
    const startedAt = performance.now();
    const elapsed = () => Math.round((performance.now() - startedAt) * 100) / 100;
    let response: AgentRunResponse;
    try {
      const deadlineMs = request.timeoutMs + HOST_DEADLINE_GRACE_MS;
      const { statusCode, body } = await this.client.request({
        path: '/run',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        headersTimeout: deadlineMs,
        bodyTimeout: deadlineMs,
        signal,
      });
      if (statusCode !== 200) {
        throw new AgentProtocolError(`the agent answered ${statusCode}: ${(await body.text()).slice(0, 500)}`);
      }
      response = (await body.json()) as AgentRunResponse;
    } catch (error) {
      if (signal?.aborted) throw new AbortError(signal.reason);
      if (error instanceof WarmboxError) throw error;
      if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
        // The agent itself did not answer in time (frozen, or starved): the host's deadline.
        await this.kill();
        return synthesisedResult(elapsed(), 'timeout', { timedOut: true });
      }
      return this.#resultOfLostAgent(error as Error, elapsed());
    }
    return toRunResult(response);
  }

  /** The agent's connection dropped mid-job: ask Docker what happened to the container. */
  async #resultOfLostAgent(cause: Error, durationMs: number): Promise<RunResult> {
    log('container %s: the agent connection failed: %o', this.id, cause);
    let timer: NodeJS.Timeout | undefined;
    const exitedInTime = await Promise.race([
      this.exited.then(() => true, () => true),
      new Promise<false>((resolve) => (timer = setTimeout(resolve, EXIT_WAIT_MS, false))),
    ]);
    clearTimeout(timer);
    const state = exitedInTime
      ? await this.docker.getContainer(this.id).inspect().then(
          (info) => info.State,
          (error: unknown) => void log('container %s: inspect failed: %o', this.id, error),
        )
      : undefined;
    if (state?.OOMKilled) {
      return synthesisedResult(durationMs, 'memory', { memoryExceeded: true }, 'the container ran out of memory and its agent was killed');
    }
    const how = state ? `the container exited with ${state.ExitCode}` : `the agent's connection failed: ${cause.message}`;
    return synthesisedResult(durationMs, 'error', {}, `the agent stopped before it reported the job (${how})`);
  }

  /** Kills the container now; removal follows in `remove`. */
  async kill(): Promise<void> {
    try {
      await this.docker.getContainer(this.id).kill();
    } catch (error) {
      log('container %s: kill failed (it may be gone already): %o', this.id, error);
    }
  }

  /** Removes the container and its socket directory. */
  async remove(): Promise<void> {
    this.#retired = true;
    await this.client.destroy().catch(() => {});
    await removeContainer(this.docker, this.id, this.ioDir);
  }
}

function toRunResult({ resultJson, ...response }: AgentRunResponse): RunResult {
  const { status, stdout, stderr, ...rest } = response;
  let result: unknown;
  try {
    result = JSON.parse(resultJson);
  } catch {
    // Only a program that wrote its own bytes onto the result channel gets here.
    const error = { type: 'ProtocolError', message: 'the result channel held something other than JSON', traceback: '' };
    return { ...response, status: 'error', result: null, error, isError: true };
  }
  // `result` right after the output, as README shows a result.
  return { status, stdout, stderr, result, ...rest, isError: status !== 'ok' };
}

function synthesisedResult(
  durationMs: number,
  status: 'timeout' | 'memory' | 'error',
  flags: { timedOut?: boolean; memoryExceeded?: boolean },
  message?: string,
): RunResult {
  const error: PythonError | null = message === undefined ? null : { type: 'SandboxError', message, traceback: '' };
  return {
    status,
    stdout: '',
    stderr: '',
    result: null,
    exitCode: null,
    signal: null,
    timedOut: flags.timedOut ?? false,
    cpuTimeExceeded: false,
    memoryExceeded: flags.memoryExceeded ?? false,
    outputTruncated: false,
    error,
    durationMs,
    isError: true,
  };
}

/**
 * Makes the directory a container's agent will put its socket in. The agent runs as root
 * without CAP_DAC_OVERRIDE, and the host as any user: the directory is open to all, inside a
 * pool directory that is the host user's alone (0700).
 */
export async function makeIoDir(path: string): Promise<void> {
  await mkdir(path);
  await chmod(path, 0o777);
}

export function ioDirFor(root: string, index: number): string {
  return join(root, `c${index}`);
}
