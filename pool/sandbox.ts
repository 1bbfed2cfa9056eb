import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import type Docker from 'dockerode';
import { ContainerPool, type PoolStats } from './container-pool.js';
import { assertImageExists, connectDocker, disconnectDocker, engineBack } from './docker.js';
import { ContainerStartError, DockerError, ImageNotFoundError, InvalidArgumentError, NotInitializedError, PoolClosedError, SessionEndedError } from '../contract/errors.js';
import { followAbort } from './follow-abort.js';
import { agentImageTag } from './image.js';
import { prepareJob, type Job, type RunOptions, type RunResult } from './job.js';
import { resolveOptions, type ResolvedOptions, type SandboxOptions } from './options.js';
import { checkJobLimitsFor, checkRuntime, type RuntimeInfo } from './runtime.js';
import { LABELS } from '../contract/labels.js';
import { ownerLabels } from './labels.js';
import { OWNER_FILE, POOL_DIR_PREFIX, sweepOrphans, sweepPool } from './sweep-orphans.js';
import { ioDirFor, WarmContainer } from './warm-container.js';
import { AgentMemory } from './create-container.js';
import { prepareSession, Session, type SessionOptions } from './session.js';
import type { PythonSandbox, SandboxEvents } from './python-sandbox.js';
import type { AgentRunRequest } from '../contract/protocol.js';
import { EgressCa } from './egress/ca.js';
import type { EgressPolicy, EgressProxy } from './egress/proxy.js';

export type { SandboxEvents } from './python-sandbox.js';

const log = debuglog('warmbox');

/** A node-style callback, for code written for docker-python-sandbox. */
export type Callback<T> = (error: Error | null, value?: T) => void;

type State = 'new' | 'initializing' | 'ready' | 'closing' | 'closed';


/**
 * A warm pool of single-use Docker containers that run untrusted Python.
 *
 * ```ts
 * const sandbox = new Sandbox(4);
 * await sandbox.initialize();
 * const r = await sandbox.run({ code: 'result = sum(data)', data: [1, 2, 3] });
 * await sandbox.close();
 * ```
 *
 * Every method returns a promise, and also takes an optional node-style callback.
 */
export class Sandbox extends EventEmitter<SandboxEvents> implements PythonSandbox {
  /** This pool's id, the value of the `io.warmbox.pool` label on its containers. */
  readonly id = randomUUID();
  readonly options: ResolvedOptions;
  #state: State = 'new';
  #initializing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  /** Set by destroy(), which aborts every job in #jobs. */
  #destroyed = false;
  /**
   * Each waiting or running job's own controller, for destroy() to abort. Not one long-lived
   * signal composed into each job's with AbortSignal.any(): Node keeps every such composite
   * for as long as the long-lived one lives (nodejs/node#55351, #64476), a leak of every job
   * the sandbox ever ran.
   */
  readonly #jobs = new Set<AbortController>();
  #pool: ContainerPool<WarmContainer> | undefined;
  #poolDir: string | undefined;
  #docker: Docker | undefined;
  #runtime: RuntimeInfo | undefined;
  /** The CA the egress proxy issues certificates with, for the hosts of network.secrets. */
  #egressCa: EgressCa | undefined;
  /** The sessions open, for close() and destroy() to end. */
  readonly #sessions = new Set<Session>();
  /** A sweep of the pool's stopped containers after the engine came back, at most one at a time. */
  #sweeping: Promise<void> | undefined;

  constructor(options?: number | SandboxOptions) {
    super();
    this.options = resolveOptions(options);
  }

  /** Starts `poolSize` containers; resolves once all are warm. Calling it again waits for the first call. */
  initialize(): Promise<void>;
  initialize(callback: Callback<void>): void;
  initialize(callback?: Callback<void>): Promise<void> | void {
    this.#initializing ??= this.#initialize();
    return settle(this.#initializing, callback);
  }

  async #initialize(): Promise<void> {
    if (this.#state !== 'new') throw new PoolClosedError();
    this.#state = 'initializing';
    try {
      const docker = await connectDocker(this.options.docker, this.options.dockerTimeoutMs);
      this.#docker = docker;
      const runtime = await checkRuntime(docker, this.options.runtime);
      if (this.options.network !== undefined && this.options.network.secrets.size > 0) this.#egressCa = await EgressCa.create();
      this.#runtime = runtime;
      const image = this.options.image ?? agentImageTag();
      if (image === undefined) throw new ImageNotFoundError('warmbox-agent (not bundled yet)', true);
      await assertImageExists(docker, image, this.options.image === undefined);
      const socketRoot = this.options.socketRoot ?? tmpdir();
      await sweepOrphans(docker, socketRoot);
      const owner = await ownerLabels(docker);
      const poolDir = await makePoolDirectory(socketRoot, owner).catch((error: Error) => {
        throw new ContainerStartError(`could not make a directory for the agents' sockets: ${error.message}`, { cause: error });
      });
      this.#poolDir = poolDir;
      const agentMemory = new AgentMemory();
      const startContainer = (index: number) =>
        WarmContainer.start(docker, { image, runtime, poolId: this.id, ownerLabels: owner, ioDir: ioDirFor(poolDir, index), options: this.options, agentMemory });
      const poolOptions = {
        ...this.options,
        recovery: (error: unknown, signal: AbortSignal) => engineBack(docker, error, signal)?.then(() => this.#sweepStopped(docker)),
        closeRetryMs: this.options.dockerTimeoutMs,
        maxHeldOut: this.options.maxSessions,
      };
      this.#pool = new ContainerPool(startContainer, poolOptions, {
        warm: (containerId, startMs) => this.emit('warm', containerId, startMs),
        removed: (containerId) => this.emit('removed', containerId),
        startFailed: (error, retryInMs) => this.emit('startFailed', error as Error, retryInMs),
        resized: (from, to) => this.emit('resized', from, to.size, to.reason),
      });
      if (this.#destroyed) throw new PoolClosedError('the sandbox was destroyed');
      await this.#pool.start();
      if (this.#state === 'initializing') this.#state = 'ready';
    } catch (error) {
      // What failed is what the caller needs to hear, not a failure of the cleanup after it.
      await this.#shutdown().catch((cleanupError: unknown) => log('could not clean up after a failed initialize(): %o', cleanupError));
      this.#state = 'closed';
      throw error;
    }
  }

  /**
   * Runs one job in a container of its own, which is removed afterwards. Resolves with the
   * result whatever the program did; rejects only for a caller's mistake, a closed sandbox,
   * an abort, or Docker failing.
   */
  run(job: Job | string, options?: RunOptions): Promise<RunResult>;
  run(job: Job | string, callback: Callback<RunResult>): void;
  run(job: Job | string, second?: RunOptions | Callback<RunResult>): Promise<RunResult> | void {
    if (typeof second === 'function') return settle(this.#run(job, {}), second);
    return this.#run(job, second ?? {});
  }

  async #run(job: Job | string, options: RunOptions): Promise<RunResult> {
    const prepared = prepareJob(job, this.options, options);
    const { dataJson, signal, stdinSource, limits } = prepared;
    const { request, egress } = this.#withEgressCa(prepared.request, prepared.egress);
    if (this.#state === 'initializing') await this.#initializing;
    const pool = this.#readyPool();
    if (limits !== undefined && this.#runtime !== undefined) checkJobLimitsFor(this.#runtime, limits, this.options);
    return this.#destroyable(signal, async (abort) => {
      const container = await pool.acquire(abort);
      // A job that has network gets a proxy of its own, on its container's io directory, for
      // exactly as long as it runs: what it reached is in its result.
      const proxy = egress === undefined ? undefined : await container.openEgressProxy(egress).catch((error: unknown) => {
        pool.retire(container);
        throw error;
      });
      try {
        const result = await container.run(request, dataJson, abort, { ...options, stdinSource }, limits);
        return proxy === undefined ? result : { ...result, egress: await proxy.close() };
      } finally {
        await proxy?.close();
        pool.retire(container);
      }
    });
  }

  /**
   * A job's request and egress policy with the sandbox's egress CA, where it holds secrets:
   * the proxy issues certificates with it, and the agent adds it to the job's trust.
   */
  #withEgressCa(request: AgentRunRequest, egress: EgressPolicy | undefined): { request: AgentRunRequest; egress: EgressPolicy | undefined } {
    if (egress === undefined || this.#egressCa === undefined) return { request, egress };
    return { request: { ...request, egressCa: this.#egressCa.pem }, egress: { ...egress, ca: this.#egressCa } };
  }

  /**
   * The pool, once initialize() is done; NotInitializedError before it, PoolClosedError once
   * closing. Not async: a job on a ready sandbox takes its container in the same tick as run().
   */
  #readyPool(): ContainerPool<WarmContainer> {
    if (this.#state === 'new') throw new NotInitializedError();
    if (this.#state !== 'ready' || this.#pool === undefined) throw new PoolClosedError();
    return this.#pool;
  }

  /**
   * Runs `work` with a signal of its own that follows the caller's `signal` and that destroy()
   * aborts; what destroy() cut short rejects with PoolClosedError.
   */
  async #destroyable<T>(signal: AbortSignal | undefined, work: (abort: AbortSignal) => Promise<T>): Promise<T> {
    const { controller, unfollow } = followAbort(signal);
    this.#jobs.add(controller);
    try {
      return await work(controller.signal);
    } catch (error) {
      if (this.#destroyed && !signal?.aborted) throw new PoolClosedError('the sandbox was destroyed');
      throw error;
    } finally {
      this.#jobs.delete(controller);
      unfollow();
    }
  }

  /**
   * Opens a session: a container of its own, out of the pool (which starts a replacement),
   * whose Python interpreter runs every cell of one conversation. Past `maxSessions` open,
   * it waits in the job queue, under the same rules as a job.
   *
   * ```ts
   * await using s = await sandbox.session();
   * await s.run('import pandas as pd\nframe = pd.DataFrame({"x": [1, 2]})');
   * (await s.run('frame.x.sum()')).value; // { repr: '3', json: 3 }
   * ```
   */
  async session(options: SessionOptions = {}): Promise<Session> {
    const prepared = prepareSession(options, this.options);
    if (this.options.maxSessions < 1) throw new InvalidArgumentError('maxSessions', 'is 0: this sandbox opens no sessions');
    if (this.#state === 'initializing') await this.#initializing;
    const pool = this.#readyPool();
    return this.#destroyable(prepared.signal, async (abort) => {
      const container = await pool.acquire(abort, { holdOut: true });
      let proxy: EgressProxy | undefined;
      const end = async () => {
        await proxy?.close();
        await pool.endHeldOut(container);
      };
      let opened: RunResult;
      try {
        // A session with network has one proxy for its whole life; each cell opens the relay to it.
        const { request, egress } = this.#withEgressCa(prepared.request, prepared.egress);
        if (egress !== undefined) proxy = await container.openEgressProxy(egress);
        opened = await container.run(request, prepared.dataJson, abort);
      } catch (error) {
        await end();
        throw error;
      }
      if (opened.status !== 'ok' || this.#state !== 'ready') {
        await end();
        if (this.#state !== 'ready') throw new PoolClosedError();
        throw new SessionEndedError('error', `it could not open: ${opened.error?.message ?? opened.status}`);
      }
      const session = new Session(container, prepared, {
        options: this.options,
        end,
        ended: (ended, reason) => {
          this.#sessions.delete(ended);
          this.emit('sessionEnded', ended.id, reason);
        },
      }, proxy);
      this.#sessions.add(session);
      this.emit('sessionOpened', session.id);
      return session;
    });
  }

  /** The runtime the containers run on, as the engine registered it; known once initialize() has checked it. */
  get runtime(): RuntimeInfo | undefined {
    return this.#runtime;
  }

  /** How many containers are warm, busy and starting, how many jobs wait, and how many sessions are open. */
  stats(): PoolStats {
    const stats = this.#pool?.stats() ?? { warm: 0, busy: 0, starting: 0, queued: 0, sessions: 0, target: this.options.poolSize, targetReason: 'minimum' as const };
    return { ...stats, sessions: this.#sessions.size };
  }

  /**
   * Stops taking jobs, waits for those already taken, then removes every container and
   * directory the sandbox made. Safe to call twice; the second call waits for the first.
   */
  close(): Promise<void>;
  close(callback: Callback<void>): void;
  close(callback?: Callback<void>): Promise<void> | void {
    this.#closing ??= this.#close();
    return settle(this.#closing, callback);
  }

  /**
   * Stops now, as undici's `destroy()` does next to `close()`: jobs waiting for a container
   * and jobs running are rejected with PoolClosedError (a running one's container is killed),
   * then every container and directory the sandbox made is removed. Safe to call twice, and
   * during or after close(); resolves once everything is gone.
   */
  destroy(): Promise<void>;
  destroy(callback: Callback<void>): void;
  destroy(callback?: Callback<void>): Promise<void> | void {
    this.#destroying ??= (async () => {
      this.#destroyed = true;
      const reason = new PoolClosedError('the sandbox was destroyed');
      for (const controller of this.#jobs) controller.abort(reason);
      await Promise.all([...this.#sessions].map((session) => session.destroy()));
      await this.#pool?.destroy();
      await this.close();
    })();
    return settle(this.#destroying, callback);
  }

  /** The name docker-python-sandbox used for `close`. */
  cleanup(): Promise<void>;
  cleanup(callback: Callback<void>): void;
  cleanup(callback?: Callback<void>): Promise<void> | void {
    return callback ? this.close(callback) : this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const wasInitializing = this.#state === 'initializing';
    this.#state = 'closing';
    // A close during initialize waits for it, then removes what it made.
    if (wasInitializing) await this.#initializing?.catch(() => {});
    await this.#shutdown();
    this.#state = 'closed';
  }

  async #shutdown(): Promise<void> {
    try {
      if (this.#pool !== undefined) {
        // Sessions first: each after the cells asked for; the pool's queue may open more, ended after it.
        await Promise.all([...this.#sessions].map((session) => session.close()));
        await this.#pool.close();
        await Promise.all([...this.#sessions].map((session) => session.close()));
        await this.#sweepAll(this.#docker!);
      }
    } finally {
      if (this.#poolDir !== undefined) await rm(this.#poolDir, { recursive: true, force: true });
      if (this.#docker !== undefined) disconnectDocker(this.#docker);
    }
  }

  /**
   * After the engine came back: the containers it stopped with itself are removed (their
   * removal may have been cut short by the stop). In the background; one at a time.
   */
  #sweepStopped(docker: Docker): void {
    this.#sweeping ??= sweepPool(docker, this.id)
      .catch((error: unknown) => log('could not sweep the stopped containers of pool %s: %o', this.id, error))
      .finally(() => (this.#sweeping = undefined));
  }

  /**
   * The last step of close(): whatever of the pool the engine still has is removed, waiting
   * up to dockerTimeoutMs for an engine that is away.
   */
  async #sweepAll(docker: Docker): Promise<void> {
    await this.#sweeping;
    try {
      await sweepPool(docker, this.id, { all: true });
    } catch (error) {
      const back = engineBack(docker, error, AbortSignal.timeout(this.options.dockerTimeoutMs));
      if (back === undefined) throw error;
      await back.catch(() => {
        throw new DockerError(
          `could not make sure the sandbox's containers are gone: the Docker engine did not answer within dockerTimeoutMs (${(error as Error).message}). ` +
            `The sweep of the next process to initialize() a Sandbox after this one exits removes any, or: docker rm -f $(docker ps -aq --filter label=${LABELS.pool}=${this.id})`,
          { cause: error },
        );
      });
      await sweepPool(docker, this.id, { all: true });
    }
  }
}

/** The pool directory: the containers' io directories, and the owner file by which a later process's sweep judges it. */
async function makePoolDirectory(socketRoot: string, owner: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(socketRoot, POOL_DIR_PREFIX));
  try {
    await writeFile(join(dir, OWNER_FILE), JSON.stringify(owner));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return dir;
}

function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> | void {
  if (callback === undefined) return promise;
  promise.then(
    (value) => callback(null, value),
    (error: Error) => callback(error),
  );
}
