/**
 * The last stage of a job's result (README, How it works): the agent's answer made into the
 * RunResult that run() resolves with, or a result the host makes itself when the agent could
 * not report (the container lost, frozen, or out of memory).
 */
import type { AgentOutput, AgentRunAnswer, PythonError } from '../contract/protocol.js';
import type { ReturnedFile } from './files.js';
import type { RunResult } from './job.js';
import { ERROR_TYPES } from '../contract/report.js';

/** The agent's answer as a RunResult: the result parsed, the figures and files as Buffers. */
export function toRunResult({ response: { files: _entries, figures: pngs, ...response }, resultJson }: AgentRunAnswer, files: ReturnedFile[]): RunResult {
  const { status, stdout, stderr, ...rest } = response;
  const figures = pngs.map((png) => Buffer.from(png, 'base64'));
  let result: unknown;
  try {
    // The runner writes JSON in ASCII alone (its json.dumps escapes the rest), which latin1
    // decodes as it is, without utf8's checks: 10 MB in 2 ms rather than 9.
    result = JSON.parse(Buffer.concat(resultJson).toString('latin1'));
  } catch {
    // Only a program that wrote its own bytes onto the result channel gets here.
    const error = { type: ERROR_TYPES.protocol, message: 'the result channel held something other than JSON', traceback: '' };
    return { ...response, status: 'error', result: null, error, files, figures, isError: true, egress: [] };
  }
  // `result` right after the output, as README shows a result.
  return { status, stdout, stderr, result, ...rest, files, figures, isError: status !== 'ok', egress: [] };
}

/**
 * A result of the host's own, for a job the agent could not report, with the output the
 * program wrote before (the agent sends it as it comes).
 */
export function synthesisedResult(
  durationMs: number,
  status: 'timeout' | 'memory' | 'error',
  flags: { timedOut?: boolean; memoryExceeded?: boolean; signal?: string },
  message?: string,
  { stdout, stderr }: AgentOutput = { stdout: '', stderr: '' },
): RunResult {
  const error: PythonError | null = message === undefined ? null : { type: ERROR_TYPES.sandbox, message, traceback: '' };
  return {
    status,
    stdout,
    stderr,
    result: null,
    exitCode: null,
    signal: flags.signal ?? null,
    timedOut: flags.timedOut ?? false,
    cpuTimeExceeded: false,
    memoryExceeded: flags.memoryExceeded ?? false,
    outputTruncated: false,
    error,
    durationMs,
    files: [],
    filesTruncated: false,
    figures: [],
    isError: true,
    egress: [],
  };
}
