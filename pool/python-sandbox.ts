/**
 * One face for a sandbox, wherever it runs: `Sandbox` on this machine's engine and
 * `RemoteSandbox` over a service both implement it, as E2B's SDK has one Sandbox whatever the
 * transport. The service, the MCP server and the command line take it, so each works on
 * either; a program written against one runs unchanged against the other.
 */
import type { EventEmitter } from 'node:events';
import type { PoolStats } from './container-pool.js';
import type { Job, RunOptions, RunResult } from './job.js';
import type { SandboxEvents } from './sandbox.js';
import type { CellOptions, CellResult, SessionOptions } from './session.js';

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
