/**
 * One face for a sandbox, wherever it runs: `Sandbox` on this machine's engine and
 * `RemoteSandbox` over a service both implement it, as E2B's SDK has one Sandbox whatever the
 * transport. The service, the MCP server and the command line take it, so each works on
 * either; a program written against one runs unchanged against the other.
 */
import type { EventEmitter } from 'node:events';
import type { PoolStats } from './container-pool.js';
import type { ResizeReason } from './pool-sizer.js';
import type { Job, RunOptions, RunResult } from './job.js';

/** The events a sandbox emits, for metrics and health checks. */
export interface SandboxEvents {
  /** A container became warm: its agent is ready for a job, `startMs` after its start began. */
  warm: [containerId: string, startMs: number];
  /** A used or dead container has been removed. */
  removed: [containerId: string];
  /** A replacement container failed to start; it is tried again after `retryInMs`. */
  startFailed: [error: Error, retryInMs: number];
  /** The number of containers the pool keeps changed, between poolSize's min and max, for `reason`. */
  resized: [from: number, to: number, reason: ResizeReason];
  /** A session opened. */
  sessionOpened: [sessionId: string];
  /** A session ended, for `reason`. */
  sessionEnded: [sessionId: string, reason: SessionEndReason];
}

/** Options of `sandbox.session(options)`. */
export interface SessionOptions {
  /**
   * A session with no cell running for this long is closed.
   * @default 300000
   */
  readonly idleTimeoutMs?: number;
  /**
   * A session is closed this long after it opened, a cell running or not.
   * @default 3600000
   */
  readonly maxLifetimeMs?: number;
  /**
   * Each cell's wall-clock limit, when the cell sets none. A cell over it is interrupted
   * (KeyboardInterrupt); one still running a moment later is killed, and the session ends.
   * @default the sandbox's timeoutMs
   */
  readonly timeoutMs?: number;
  /**
   * Each cell's CPU-time limit, when the cell sets none; enforced as timeoutMs is.
   * @default the sandbox's cpuTimeMs, else the cell's timeoutMs
   */
  readonly cpuTimeMs?: number;
  /** Environment variables of the session's interpreter, as a job's `env`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files written under the working directory as the session opens, as a job's `files`. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  /** Modules imported as the session opens, before its first cell, as the sandbox's `preload` does for jobs. */
  readonly preload?: readonly string[];
  /** What the session's cells may reach, within the sandbox's `network`, as a job's `network`; each cell reports its own connections, cut when it ends. */
  readonly network?: JobNetwork;
  /** Aborts the wait for a container and the opening: `session()` then rejects with AbortError. */
  readonly signal?: AbortSignal;
}

/** What `session.run(code, options)` takes besides the code. */
export interface CellOptions extends RunOptions {
  /** The cell's stdin: `input()` and `sys.stdin` read it, and end-of-file after it. @default '' */
  readonly stdin?: string;
  /** Sets the global `data` to this JSON value before the cell runs; left out, `data` stays as it was. */
  readonly data?: unknown;
  /** @default the session's timeoutMs */
  readonly timeoutMs?: number;
  /** @default the session's cpuTimeMs */
  readonly cpuTimeMs?: number;
  /** Glob patterns of files to bring back once the cell has ended, as a job's `returnFiles`. */
  readonly returnFiles?: readonly string[];
  /** Interrupts the cell (KeyboardInterrupt): `run()` then rejects with AbortError once it has stopped. */
  readonly signal?: AbortSignal;
}

/** How a cell ended: a RunResult, with the value of its last expression. */
export interface CellResult extends RunResult {
  /**
   * The value of the cell's last expression, as a REPL shows it: `repr` always; `json`
   * where it has one; `html` (a pandas DataFrame) or `png` (a matplotlib figure, base64)
   * where it offers one. Null when the cell ends in a statement, or its value is None.
   */
  readonly value: CellValue | null;
  /** The session ended with this cell: it exited, ran out of memory, or ignored an interrupt past its limit. */
  readonly sessionEnded: boolean;
}
import type { CellValue } from '../contract/protocol.js';
import type { SessionEndReason } from '../contract/errors.js';
import type { JobNetwork } from './egress/policy.js';

/** A session wherever it runs: one interpreter kept for many cells (`Session`, `RemoteSession`). */
export interface PythonSession extends AsyncDisposable {
  /** How the session is named: 128 random bits, hex. */
  readonly id: string;
  /** Runs a cell; rejects with SessionEndedError once the session has ended. */
  run(code: string, options?: CellOptions): Promise<CellResult>;
  /** Raises KeyboardInterrupt in the running cell; the session and its state stay. */
  interrupt(): Promise<void>;
  /** Ends the session; its container is removed. */
  close(): Promise<void>;
}

/** A sandbox wherever it runs: warm single-use containers that run Python jobs. */
export interface PythonSandbox extends AsyncDisposable, Pick<EventEmitter<SandboxEvents>, 'on' | 'once' | 'off'> {
  /** Resolves once the sandbox can take jobs: its pool warm, or its service answering. */
  initialize(): Promise<void>;
  /** Runs one job in a fresh container. Untrusted code failing is a result, never a rejection. */
  run(job: Job | string, options?: RunOptions): Promise<RunResult>;
  /** Opens a session: one container held for many cells. */
  session(options?: SessionOptions): Promise<PythonSession>;
  /** Containers warm, busy and starting, jobs waiting, sessions open: at once for a local sandbox, from its service for a remote one. */
  stats(): PoolStats | Promise<PoolStats>;
  /** Takes no new jobs, waits for those running, then lets everything go. Safe to call twice. */
  close(): Promise<void>;
  /** Stops now: jobs waiting and running reject with PoolClosedError, then everything goes. */
  destroy(): Promise<void>;
}
