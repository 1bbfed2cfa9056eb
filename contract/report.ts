/**
 * The runner's vocabulary: what agent/runner.py writes on its result channel, and the names
 * warmbox gives the failures it reports in a result's `error.type`. Written once here; the
 * agent reads the report by it, and hands it to the runner in its layout (runnerLayout), so
 * that the Python side spells none of it itself.
 */

/**
 * The report's lines, in the order the runner writes them after a job or a cell, each one JSON:
 * `error` (null or `{type, message, traceback}`), `result` (the program's `result`, passed to
 * the host unparsed), `figures` (base64 PNGs), `value` (a cell's last expression, or null) and
 * `ending` (`{exit}`, `{signal}`, or a cell's `{open: true}`).
 */
export const REPORT_LINES = Object.freeze(['error', 'result', 'figures', 'value', 'ending'] as const);
export type ReportLine = (typeof REPORT_LINES)[number];

/**
 * The `error.type` of a failure warmbox reports, rather than an exception the program raised
 * (whose class name is its type).
 */
export const ERROR_TYPES = Object.freeze({
  /** `result` could not be serialised as JSON, or is larger than the report may be (runner, agent). */
  result: 'ResultError',
  /** `data` could not be read by Python's JSON loader (runner). */
  data: 'DataError',
  /** A file of the job's could not be written (runner). */
  files: 'FilesError',
  /** A module of `preload` could not be imported (runner). */
  preload: 'PreloadError',
  /** The result channel held something other than one report: the program wrote to it (agent, host). */
  protocol: 'ProtocolError',
  /** The sandbox failed around the program: its container or agent was lost (host). */
  sandbox: 'SandboxError',
} as const);
export type ErrorType = (typeof ERROR_TYPES)[keyof typeof ERROR_TYPES];

/** The error types the runner itself reports: its share of ERROR_TYPES, handed to it in its layout. */
export const RUNNER_ERROR_TYPES = Object.freeze({ result: ERROR_TYPES.result, data: ERROR_TYPES.data, files: ERROR_TYPES.files, preload: ERROR_TYPES.preload });
