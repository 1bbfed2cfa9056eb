import type { AgentReport, JsonPieces, PythonError, RunStatus } from '../contract/protocol.js';
import { ERROR_TYPES } from '../contract/report.js';

/** A limit the agent stopped the program for. */
export type StopReason = 'timeout' | 'cpu' | 'output';

/** What the runner reported on its result channel, parsed; see parseReport. */
export interface Report {
  readonly error: PythonError | null;
  /** `result` as the runner serialised it; parsed only by the host. */
  readonly resultJson: JsonPieces;
  /** The program's figures as base64 PNGs; absent where the report was not a valid one. */
  readonly figures?: readonly string[];
  /** How the runner ended: an exit code, or a signal (SIGINT for an uncaught KeyboardInterrupt); both undefined where the report was not a valid one. */
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  /** The value line of a session's cell, as the runner wrote it (JSON text), or null. */
  readonly value?: string | null;
  /** The report ends a session's cell that leaves the session open: the runner goes on. */
  readonly open?: boolean;
}

/** Everything known once a job is over, from which its outcome follows. */
export interface JobFacts {
  /** The report, or null where the runner wrote nothing. */
  readonly report: Report | null;
  /** The runner process's own end, where it came before the report: [code, signal]. */
  readonly exit: readonly [number | null, string | null] | undefined;
  /** The limit the agent killed the program for, if it did. */
  readonly stoppedFor: StopReason | undefined;
  /** The OOM killer killed a process of the container during the job. */
  readonly oomKilled: boolean;
}

export type Outcome = Pick<AgentReport, 'status' | 'exitCode' | 'signal' | 'timedOut' | 'cpuTimeExceeded' | 'memoryExceeded' | 'error'> & {
  readonly resultJson: JsonPieces;
};

/** The result of a program that set none, or whose report never came. */
export const NO_RESULT: JsonPieces = [Buffer.from('null')];

/**
 * The one place a job's status is decided. A result tells one story: either the program
 * finished (a valid report, or its own exit code), and then it did not time out, whatever
 * timer fired as it finished; or it was killed (SIGKILL, no exit code). Memory outranks
 * the limits: a parent that waits for a child the OOM killer took then times out too, but
 * it ran out of memory. Only one limit stops a program: the first the agent saw.
 */
export function decideOutcome({ report, exit, stoppedFor, oomKilled }: JobFacts): Outcome {
  // A session's cell that reported and left its session open ended by itself, unless the
  // agent interrupted it for a limit: then it is the limit's, as a killed program is.
  const open = report?.open === true;
  const reported = report?.exitCode !== undefined || open;
  const exitedByItself = exit !== undefined && (exit[0] !== null || exit[1] !== 'SIGKILL');
  const finished = open ? stoppedFor === undefined : reported || (stoppedFor === undefined ? true : exitedByItself);
  let exitCode: number | null;
  let signal: string | null;
  if (open) [exitCode, signal] = [null, finished ? null : 'SIGINT'];
  else if (reported) [exitCode, signal] = [report!.exitCode ?? null, report!.signal ?? null];
  else if (finished) [exitCode, signal] = exit ? [exit[0], exit[1]] : [null, null];
  else [exitCode, signal] = [null, 'SIGKILL'];
  const timedOut = !finished && stoppedFor === 'timeout';
  const cpuTimeExceeded = !finished && stoppedFor === 'cpu';
  const { error, resultJson } = report ?? noReport(exitCode, signal);
  const memoryExceeded = oomKilled || error?.type === 'MemoryError';
  const status: RunStatus = memoryExceeded
    ? 'memory'
    : timedOut || cpuTimeExceeded
      ? 'timeout'
      : !finished && stoppedFor === 'output'
        ? 'output'
        : (exitCode === 0 || open) && error === null
          ? 'ok'
          : 'error';
  return { status, exitCode, signal, timedOut, cpuTimeExceeded, memoryExceeded, error, resultJson };
}

/** No report: a kill or a crash says enough by itself; a clean exit without one needs a word. */
function noReport(exitCode: number | null, signal: string | null): Report {
  if (signal !== null || exitCode !== 0) return { error: null, resultJson: NO_RESULT };
  return {
    error: { type: ERROR_TYPES.protocol, message: 'the program ended without reporting: it called os._exit() or closed the result channel', traceback: '' },
    resultJson: NO_RESULT,
  };
}
