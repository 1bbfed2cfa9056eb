import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { AGENT_ROUTES, RunAnswerReader, type AgentCellRequest, type AgentConfig, type AgentOutput, type AgentExchangeRoute, type AgentRunAnswer, type AgentRunRequest } from '../contract/protocol.js';
import { AgentClient } from './agent-client.js';
import { containerLimits, createContainer, type ContainerSpec, type ProgramLimits } from './create-container.js';
import { MIB } from '../contract/limits.js';
import { dockerFailed } from './docker.js';
import { AbortError, ContainerStartError, WarmboxError } from '../contract/errors.js';
import { readReturnedFiles } from './files.js';
import type { RunOptions, RunResult } from './job.js';
import type { ResolvedOptions } from './options.js';
import type { RuntimeInfo } from './runtime.js';
import { removeContainer } from './remove-container.js';
import { synthesisedResult, toRunResult } from './run-result.js';
import { waitForAgent } from './wait-for-agent.js';
import { AGENT_CONFIG_FILE_NAME, EGRESS_SOCKET_NAME } from '../contract/layout.js';
import { EgressProxy, type EgressPolicy } from './egress/proxy.js';

const log = debuglog('warmbox');

// The agent enforces the job's limits; the host only guards against an agent that stopped
// answering (its container frozen). Past the job's timeout and this grace, the host asks the
// agent's /health on a second connection, and again every PROBE_EVERY_MS. An agent that
// answers within PROBE_TIMEOUT_MS is still sending back what the limits allowed (output and
// result can be hundreds of MB) and is waited for, up to MAX_REPLY_MS in all. One that does
// not may only be busy serialising such a reply on a loaded machine, so the engine is asked
// too: the container is given up only if it is paused or no longer running.
const HOST_DEADLINE_GRACE_MS = 2000;
const PROBE_TIMEOUT_MS = 2000;
const PROBE_EVERY_MS = 1000;
const MAX_REPLY_MS = 120_000;
// After the agent's connection dropped, how long to wait for the container to exit before
// asking Docker why. A container that ran out of memory is gone in milliseconds under runc;
// under gVisor on a busy machine, the engine has been seen to report the exit of a sandbox
// whose kernel the OOM killer took more than 10 s late. The agent is the container's only
// process but init, so a container whose agent went away does exit: the wait costs nothing else.
const EXIT_WAIT_MS = 30_000;
// How long reading a container's events may take, the engine ending the stream itself after 1 s.
// How far an agent's measured share may be from the one its container was created with before
// the container's limit is changed: v1's usage counter runs up to 64 pages a CPU ahead.
const AGENT_MEMORY_SLACK_BYTES = MIB / 2;
const EVENTS_WAIT_MS = 10_000;

interface ExitStatus {
  readonly StatusCode: number;
}

/**
 * One started container whose agent is ready for its one job: its life (create, start, wait
 * for the agent, remove) and the watchdog of its one job. Made by `start`, used once by `run`,
 * then removed. Talking to the agent is AgentClient's (pool/agent-client.ts); making the
 * answer a RunResult is pool/run-result.ts's.
 */
export class WarmContainer {
  #alive = true;
  #retired = false;

  private constructor(
    private readonly docker: Docker,
    readonly id: string,
    readonly ioDir: string,
    private readonly agent: AgentClient,
    private readonly exited: Promise<ExitStatus>,
    private readonly runtime: RuntimeInfo,
    private readonly options: ResolvedOptions,
    /** The agent's share of the container's memory, which its limit holds on top of the program's. */
    private readonly agentBytes: number,
  ) {
    exited.then(
      () => (this.#alive = false),
      () => (this.#alive = false),
    );
  }

  /** Creates and starts a container, and resolves once its agent is ready. */
  static async start(docker: Docker, spec: ContainerSpec): Promise<WarmContainer> {
    let container: Docker.Container | undefined;
    try {
      await makeIoDir(spec.ioDir, { preload: spec.options.preload });
      container = await createContainer(docker, spec);
      await container.start();
      const exited = container.wait({ condition: 'not-running' }) as Promise<ExitStatus>;
      // Keep an early failure of the wait from being unhandled; waitForAgent reports it.
      exited.catch(() => {});
      const socketPath = await waitForAgent(spec.ioDir, exited, spec.options.startupTimeoutMs);
      const agent = await AgentClient.connect(socketPath, spec.options.startupTimeoutMs);
      const createdWith = spec.agentMemory.bytes;
      const agentBytes = agent.agentMemoryBytes ?? createdWith;
      // The pool's next containers are created with this agent's share; this one is changed
      // to it only where it differs from what it was created with by more than the kernel's
      // own imprecision in counting it.
      spec.agentMemory.bytes = agentBytes;
      const warm = new WarmContainer(docker, container.id, spec.ioDir, agent, exited, spec.runtime, spec.options, agentBytes);
      if (Math.abs(agentBytes - createdWith) > AGENT_MEMORY_SLACK_BYTES) await warm.#setLimits(spec.options);
      return warm;
    } catch (error) {
      await removeContainer(docker, container?.id, spec.ioDir).catch((cleanupError: unknown) =>
        log('could not remove container %s after a failed start: %o', container?.id, cleanupError),
      );
      if (error instanceof WarmboxError) throw error;
      throw new ContainerStartError(`a container did not start: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Whether the runtime is gVisor, whose kernel is the container's own. */
  private get gvisor(): boolean {
    return this.runtime.kind === 'gvisor';
  }

  /** False once the container has exited, for whatever reason. */
  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Opens a job's (or a session's) egress proxy on this container's io directory, where the
   * agent relays the program's proxy port to; the caller closes it when the job ends.
   */
  openEgressProxy(policy: EgressPolicy): Promise<EgressProxy> {
    return EgressProxy.open(join(this.ioDir, EGRESS_SOCKET_NAME), policy);
  }

  /** Calls back once if the container exits before `remove` was called: killed from outside. */
  onUnexpectedExit(listener: () => void): void {
    const check = () => {
      if (!this.#retired) listener();
    };
    this.exited.then(check, check);
  }

  /**
   * Runs the one job. Resolves with a result whatever the program did. With `streams`, the
   * output is heard as it is written, and a streamed stdin is sent while the program runs.
   */
  async run(job: AgentRunRequest, dataJson: Buffer, signal: AbortSignal | undefined, streams: JobStreams = {}, limits?: ProgramLimits): Promise<RunResult> {
    if (limits !== undefined) await this.#setLimits(limits);
    // Under gVisor the program's processes are bounded by RLIMIT_NPROC, which gVisor enforces
    // once the uid holds more than it (Linux: as many as): one less leaves exactly pidsLimit.
    const request = this.gvisor ? { ...job, rlimits: { ...job.rlimits, processes: this.options.pidsLimit - 1 } } : job;
    return this.#exchange(AGENT_ROUTES.run, request, dataJson, signal, streams);
  }

  /**
   * Runs one more cell of the session this container's job opened (`run` with `session`);
   * resolves with its result whatever the cell did.
   */
  runCell(cell: AgentCellRequest, dataJson: Buffer, signal: AbortSignal | undefined, streams: RunOptions = {}): Promise<RunResult> {
    return this.#exchange(AGENT_ROUTES.cell, cell, dataJson, signal, streams);
  }

  /** Raises KeyboardInterrupt in the session's running cell, if one runs. */
  async interrupt(): Promise<void> {
    await this.agent.interrupt();
  }

  /** Sends a job or a cell and reads its answer, watching over the agent while it runs. */
  async #exchange(path: AgentExchangeRoute, request: AgentRunRequest | AgentCellRequest, dataJson: Buffer, signal: AbortSignal | undefined, streams: JobStreams): Promise<RunResult> {
    const startedAt = performance.now();
    const elapsed = () => Math.round((performance.now() - startedAt) * 100) / 100;
    let answer: AgentRunAnswer;
    const watchdog = this.#watchAgent(request.timeoutMs + HOST_DEADLINE_GRACE_MS);
    const stdin = streams.stdinSource === undefined ? undefined : this.agent.sendStdin(streams.stdinSource);
    const reader = new RunAnswerReader((event) => (event.type === 'stdout' ? streams.onStdout : streams.onStderr)?.(event.data));
    try {
      answer = await this.agent.run(request, dataJson, signal ? AbortSignal.any([signal, watchdog.signal]) : watchdog.signal, reader, path);
    } catch (error) {
      if (signal?.aborted) throw new AbortError(signal.reason);
      if (error instanceof WarmboxError) throw error;
      // What the program wrote before the agent was lost has reached the host: it stays in the result.
      if (watchdog.signal.aborted) {
        await this.kill();
        return synthesisedResult(elapsed(), 'error', {}, `the agent stopped answering (${watchdog.signal.reason}): the container was frozen or starved`, reader.output());
      }
      return this.#resultOfLostAgent(error as Error, elapsed(), reader.output());
    } finally {
      watchdog.stop();
      await stdin?.stop();
    }
    const files = await readReturnedFiles(this.ioDir, answer.response.files, request.returnFiles);
    return toRunResult(answer, files);
  }

  /** Aborts its signal once the agent stops answering, checked from `afterMs` on; see PROBE_EVERY_MS. */
  #watchAgent(afterMs: number): { readonly signal: AbortSignal; stop(): void } {
    const controller = new AbortController();
    const giveUpAt = performance.now() + afterMs + MAX_REPLY_MS;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const check = async () => {
      if (performance.now() > giveUpAt) return controller.abort(`no reply within ${MAX_REPLY_MS} ms after the job's limit`);
      const state = (await this.agent.answersHealth(PROBE_TIMEOUT_MS)) ? 'answering' : await this.#engineState();
      if (stopped) return;
      if (state === 'answering' || state === 'running') timer = setTimeout(check, PROBE_EVERY_MS);
      else controller.abort(`no answer to /health within ${PROBE_TIMEOUT_MS} ms, ${afterMs} ms into the job, and the container is ${state}`);
    };
    timer = setTimeout(check, afterMs);
    return {
      signal: controller.signal,
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  /**
   * Sets the container's memory and pids limits to a program's: a job's own, before the
   * program gets the job, or the pool's, once the agent has measured its share. The engine's
   * update call, which writes the container's cgroup. A failure fails the job or the start,
   * and the container, never used, is retired like any other.
   */
  async #setLimits(limits: ProgramLimits): Promise<void> {
    try {
      await this.docker.getContainer(this.id).update(containerLimits(this.runtime, limits, this.agentBytes));
    } catch (error) {
      throw dockerFailed("set the program's memory and pids limits on its container", error);
    }
  }

  /** What the engine says of the container: running, paused, or gone (exited, removed, or no answer). */
  async #engineState(): Promise<'running' | 'paused' | 'gone'> {
    try {
      const { State } = await this.docker.getContainer(this.id).inspect();
      return State.Paused ? 'paused' : State.Running ? 'running' : 'gone';
    } catch {
      return 'gone';
    }
  }

  /** The agent's connection dropped mid-job: ask Docker what happened to the container. */
  async #resultOfLostAgent(cause: Error, durationMs: number, output: AgentOutput): Promise<RunResult> {
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
    log('container %s: after the agent was lost: %o', this.id, state && { ExitCode: state.ExitCode, OOMKilled: state.OOMKilled, Error: state.Error });
    if (state?.OOMKilled || (this.#killedLikeMemory(state?.ExitCode) && (await this.#killedForMemory(state!.StartedAt)))) {
      // The kernel's OOM killer took the agent with the program (under gVisor it always takes
      // the whole container, whose kernel it is): the program died of SIGKILL.
      return synthesisedResult(durationMs, 'memory', { memoryExceeded: true, signal: 'SIGKILL' }, 'the container ran out of memory and its agent was killed', output);
    }
    const how = state ? `the container exited with ${state.ExitCode}` : `the agent's connection failed: ${cause.message}`;
    return synthesisedResult(durationMs, 'error', {}, `the agent stopped before it reported the job (${how})`, output);
  }

  /**
   * Whether a container's exit code is one that running out of memory gives: SIGKILL's 137,
   * and under gVisor also 2, the Sentry's Go runtime ending itself when it cannot get memory
   * (seen under load: exit 2, with the engine's OOM report to follow).
   */
  #killedLikeMemory(exitCode: number | undefined): boolean {
    return exitCode === 137 || (this.gvisor && exitCode === 2);
  }

  /**
   * For a container that died of SIGKILL and is not (yet) marked OOMKilled: whether memory
   * killed it after all. Its events from its start until a second from now (the engine closes
   * the stream then) are read: an `oom` event says so, as may the engine asked again, since on
   * a busy machine it can learn of an OOM after the exit. Under gVisor the engine may never
   * hear of it at all (the host's OOM killer takes the Sentry), so there a SIGKILL that did not
   * come through the engine (no `kill` event: not `docker kill`, `rm -f` or a stop) is the
   * host's OOM killer, the only other sender being someone killing the Sentry by hand.
   */
  async #killedForMemory(startedAt: string): Promise<boolean> {
    try {
      const since = Math.floor(Date.parse(startedAt) / 1000);
      const until = Math.ceil(Date.now() / 1000) + 1;
      // The engine ends the stream at `until`; the signal only guards against one that hangs.
      const abortSignal = AbortSignal.timeout(EVENTS_WAIT_MS);
      const stream = (await this.docker.getEvents({ since, until, filters: { container: [this.id], event: ['oom', 'kill'] }, abortSignal } as Docker.GetEventsOptions)) as AsyncIterable<Buffer>;
      // Read whole before it is parsed: a chunk may end mid-line.
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const events = Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => (JSON.parse(line) as { status?: string }).status);
      if (events.includes('oom') || (await this.docker.getContainer(this.id).inspect()).State.OOMKilled) return true;
      return this.gvisor && !events.includes('kill');
    } catch (error) {
      log('container %s: could not read its events: %o', this.id, error);
      return false;
    }
  }

  /** Kills the container now; removal follows in `remove`. */
  async kill(): Promise<void> {
    const container = this.docker.getContainer(this.id);
    try {
      // A paused container is thawed first: runsc cannot signal a paused sandbox, and the
      // engine would wait 10 s for an exit that never comes (runc's thaws by itself).
      if ((await this.#engineState()) === 'paused') await container.unpause();
      await container.kill();
    } catch (error) {
      log('container %s: kill failed (it may be gone already): %o', this.id, error);
    }
  }

  /** Removes the container and its io directory. */
  async remove(): Promise<void> {
    this.#retired = true;
    await this.agent.close();
    await removeContainer(this.docker, this.id, this.ioDir);
  }
}

/** A job's streams while it runs: its output's listeners, and a stdin sent as it comes. */
export interface JobStreams extends RunOptions {
  readonly stdinSource?: AsyncIterable<string | Uint8Array> | undefined;
}

/**
 * Makes the directory a container's agent will put its socket in, with the agent's
 * configuration in it. The agent runs as root without CAP_DAC_OVERRIDE, and the host as any
 * user: the directory is open to all, inside a pool directory that is the host user's alone
 * (0700); inside the container, its parent is 0700 root, out of the program's reach.
 */
export async function makeIoDir(path: string, config: AgentConfig): Promise<void> {
  await mkdir(path);
  await chmod(path, 0o777);
  await writeFile(join(path, AGENT_CONFIG_FILE_NAME), JSON.stringify(config), { mode: 0o644 });
}

export function ioDirFor(root: string, index: number): string {
  return join(root, `c${index}`);
}
