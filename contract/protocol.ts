/**
 * The wire contract between the host (pool/) and the agent inside each container.
 *
 * This module is the one source of truth, imported by both sides: the agent's routes validate
 * against these schemas, and the host encodes and decodes with the same functions and
 * constants, so the two cannot drift apart.
 */

import type { FromSchema } from 'json-schema-to-ts';

/** How a job can end, as the report's schema lists them. */
export const RUN_STATUSES = ['ok', 'error', 'timeout', 'memory', 'output'] as const;
/** How a job ended. Anything but `ok` sets `isError`. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** An uncaught Python exception, or a reason the program could not report a result. */
export interface PythonError {
  /** The exception's class name, e.g. `ZeroDivisionError`, or one of warmbox's own (contract/report.ts, ERROR_TYPES). */
  readonly type: string;
  readonly message: string;
  /** The formatted traceback, limited to the job's own frames; empty when there is none. */
  readonly traceback: string;
}

/**
 * `POST /run` and its answer are newline-delimited JSON, so that data and result cross
 * every hop as the bytes they already are, parsed only where they are used:
 * - the request is two lines: an AgentRunRequest, then the job's `data` as the host
 *   serialised it, which the agent hands to the runner unparsed;
 * - the answer is an AgentStreamEvent a line: the program's output as it writes it, then a
 *   `result` event with the report, then one last line: the program's `result` as the
 *   runner serialised it, which the agent passes on unparsed and the host parses, once.
 *   The output crosses only as events, never again in the report: the agent holds none of it
 *   once sent (its memory stays flat whatever the program prints), and what the program wrote
 *   before a kill that takes the agent too (gVisor's OOM ends the whole sandbox) has reached
 *   the host already.
 * Serialised JSON holds no raw newline, so each line is one value; a program that writes its
 * own bytes on the result channel can change only that last line, never the report before it.
 */
export const RUN_CONTENT_TYPE = 'application/x-ndjson';

/**
 * The body of `POST /run`: the request's fields, then the job's data, as the two pieces of
 * bytes they are (the data's JSON, encoded once by the host, is sent as it is, not copied
 * into one body).
 */
export function encodeRunRequest(request: AgentRunRequest | AgentCellRequest, dataJson: string | Buffer): [Buffer, Buffer] {
  return [Buffer.from(`${JSON.stringify(request)}\n`), typeof dataJson === 'string' ? Buffer.from(dataJson) : dataJson];
}

/**
 * JSON text as the pieces of bytes it arrived in. Data and result are passed on this way,
 * never joined into one buffer on the way: in the container, every copy of 10 MB is 10 MB
 * of fresh pages charged to the program's memory limit, and a few milliseconds of faults.
 */
export type JsonPieces = readonly Buffer[];

/** How many bytes the pieces hold together. */
export function byteLengthOf(pieces: JsonPieces): number {
  return pieces.reduce((sum, piece) => sum + piece.length, 0);
}

/** The end of every answer to `POST /run`, in pieces to write: the `result` event, then the result's own line. */
export function encodeRunAnswer({ report, resultJson }: AgentReportAnswer): Buffer[] {
  const event: AgentStreamEvent = { type: 'result', result: report };
  return [Buffer.from(`${JSON.stringify(event)}\n`), ...resultJson, NEWLINE];
}

const NEWLINE = Buffer.from('\n');

/** An output event of an answer. */
export type AgentOutputEvent = Extract<AgentStreamEvent, { type: 'stdout' | 'stderr' }>;

/**
 * Reads an answer to `POST /run` as it arrives: each output event to `onOutput`, and into the
 * output it keeps, then the report, then the result's line, kept as bytes. Only the new bytes
 * of each chunk are searched for a line's end, and the result, however large, is never
 * searched at all. `output()` is what the program wrote so far, for an answer cut short.
 */
export class RunAnswerReader {
  readonly #onOutput: ((event: AgentOutputEvent) => void) | undefined;
  #line: Buffer[] = [];
  #report: AgentReport | undefined;
  readonly #tail: Buffer[] = [];
  readonly #output = { stdout: [] as string[], stderr: [] as string[] };

  constructor(onOutput?: (event: AgentOutputEvent) => void) {
    this.#onOutput = onOutput;
  }

  /** Takes the next bytes; throws where a line before the result is not JSON. */
  push(chunk: Buffer): void {
    if (this.#report !== undefined) {
      this.#tail.push(chunk);
      return;
    }
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.#line.push(chunk.subarray(start, newline));
      start = newline + 1;
      const event = JSON.parse(Buffer.concat(this.#line).toString('utf8')) as AgentStreamEvent;
      this.#line = [];
      if (event.type === 'result') {
        this.#report = event.result;
        this.#tail.push(chunk.subarray(start));
        return;
      }
      this.#output[event.type].push(event.data);
      this.#onOutput?.(event);
    }
    this.#line.push(chunk.subarray(start));
  }

  /** The program's output heard so far: all of it once the report has come. */
  output(): AgentOutput {
    return { stdout: this.#output.stdout.join(''), stderr: this.#output.stderr.join('') };
  }

  /** The report with the output, and the result's line; throws if the answer ended before both were whole. */
  end(): AgentRunAnswer {
    if (this.#report === undefined) throw new Error('the answer ended without a result');
    const tail = this.#tail.filter((chunk) => chunk.length > 0);
    const last = tail.at(-1);
    if (last?.at(-1) !== 10) throw new Error('the answer ended inside its result');
    tail[tail.length - 1] = last.subarray(0, -1);
    return { response: reportWithOutput(this.#report, this.output()), resultJson: tail };
  }
}

/** The program's output, as an answer's events carried it. */
export interface AgentOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** A report with the output that came before it: the response, `status` first and the output after it, as a result reads. */
export function reportWithOutput({ status, ...rest }: AgentReport, output: AgentOutput): AgentRunResponse {
  return { status, ...output, ...rest };
}

/** Reads a whole answer to `POST /run` (see RunAnswerReader). */
export function decodeRunAnswer(body: Buffer): AgentRunAnswer {
  const reader = new RunAnswerReader();
  reader.push(body);
  return reader.end();
}

/** What the runner answers for a job: the report, and the result as the runner serialised it. */
export interface AgentReportAnswer {
  readonly report: AgentReport;
  readonly resultJson: JsonPieces;
}

/** An answer as the host reads it: the report with the output its events carried, and the result. */
export interface AgentRunAnswer {
  readonly response: AgentRunResponse;
  readonly resultJson: JsonPieces;
}

/** What the host sends, on the first line of `POST /run`: one job, for the one run a container ever does. */
export interface AgentRunRequest {
  readonly code: string;
  readonly stdin: string;
  /** Environment variables the program sees on top of the agent's fixed few; checked by the host. */
  readonly env: Readonly<Record<string, string>>;
  /** Wall-clock limit, enforced by the agent. */
  readonly timeoutMs: number;
  /** CPU time the program's processes may use together, enforced by the agent from the cgroup. */
  readonly cpuTimeMs: number;
  readonly maxOutputBytes: number;
  /** Kill the program once stdout or stderr passes maxOutputBytes, rather than drop the rest. */
  readonly stopOnOutputLimit: boolean;
  /** Per-process limits the runner sets on itself (soft and hard) before the code runs. */
  readonly rlimits: ProgramRlimits;
  /** Files the runner writes under WORK_DIR before the code runs; paths checked by the host. */
  readonly files: readonly AgentFile[];
  /** What the agent copies out of WORK_DIR once the program has ended. */
  readonly returnFiles: ReturnFilesRequest;
  /** Keep the program's stdin open after `stdin`, for what the host sends on `POST /stdin`. */
  readonly stdinOpen: boolean;
  /**
   * Open a session: this job is its first cell, and the runner stays for the cells sent on
   * `POST /cell` (AgentCellRequest) until one exits or the container is removed.
   */
  readonly session?: boolean;
  /** For a session: modules imported before its first cell, as the sandbox's `preload` is before a job. */
  readonly preload?: readonly string[];
  /** The job has network: relay the program's proxy port to the host's egress proxy while it runs. */
  readonly egress?: boolean;
  /** The sandbox's egress CA (PEM), which the agent adds to the job's trust at EGRESS_CA_PATH. */
  readonly egressCa?: string;
}

/**
 * The first line of `POST /cell`, in a container whose job opened a session; the second is
 * the cell's `data` (JSON null leaves the global `data` as it was). The answer is read as
 * `POST /run`'s is.
 */
export interface AgentCellRequest {
  readonly code: string;
  readonly stdin: string;
  readonly timeoutMs: number;
  readonly cpuTimeMs: number;
  readonly maxOutputBytes: number;
  readonly stopOnOutputLimit: boolean;
  readonly returnFiles: ReturnFilesRequest;
  /** The session has network: relay the program's proxy port to the host's egress proxy while the cell runs. */
  readonly egress?: boolean;
}

/**
 * The value of a session cell's last expression, as a REPL or Jupyter shows it: its repr
 * always, its JSON where it has one, and what a page renders where the value offers it.
 */
export interface CellValue {
  readonly repr: string;
  /** The value as JSON; absent where it has none (a DataFrame, a set, an integer past 2^53). */
  readonly json?: unknown;
  /** HTML, from the value's `_repr_html_` (a pandas DataFrame). */
  readonly html?: string;
  /** A PNG, base64: a matplotlib figure, or a value with `_repr_png_`. */
  readonly png?: string;
}

/** A line of an answer to `POST /run`. */
export type AgentStreamEvent =
  | { readonly type: 'stdout' | 'stderr'; readonly data: string }
  | { readonly type: 'result'; readonly result: AgentReport };

export interface AgentFile {
  /** Relative to WORK_DIR, normalised: no `.`, `..` or empty segment. */
  readonly path: string;
  readonly content: string;
  /** How `content` holds the bytes: UTF-8 text as it is, or base64. */
  readonly encoding: 'utf8' | 'base64';
}

export interface ReturnFilesRequest {
  /** Glob patterns (picomatch) relative to WORK_DIR; none: nothing is collected. */
  readonly patterns: readonly string[];
  readonly maxFiles: number;
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/**
 * A file the agent copied out: the i-th of the reply's list is the file `i` in
 * RETURNED_FILES_DIR of the directory the host bind-mounts, `size` bytes long.
 */
export interface ReturnedFileEntry {
  readonly path: string;
  readonly size: number;
}

export interface ProgramRlimits {
  /** RLIMIT_FSIZE: the largest file the program may write. */
  readonly fileSizeBytes: number;
  /** RLIMIT_NOFILE: how many files each process may hold open. */
  readonly openFiles: number;
  /** RLIMIT_STACK: the stack of each process. */
  readonly stackBytes: number;
  /**
   * RLIMIT_NPROC: the processes and threads of the program's uid together. Sent only for a
   * runtime with a kernel of its own (gVisor), where the container's pids cgroup bounds the
   * runtime rather than the program.
   */
  readonly processes?: number;
}

/** The agent's report of a job, in its `result` event; the output came before it, the result follows it. */
export interface AgentReport {
  readonly status: RunStatus;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The wall-clock limit was hit. */
  readonly timedOut: boolean;
  /** The CPU-time limit was hit. */
  readonly cpuTimeExceeded: boolean;
  /** The program ran out of memory: the OOM killer killed it, or Python raised MemoryError. */
  readonly memoryExceeded: boolean;
  readonly outputTruncated: boolean;
  readonly error: PythonError | null;
  readonly durationMs: number;
  /** The files that matched `returnFiles`, in path order; their bytes wait in the host's directory. */
  readonly files: readonly ReturnedFileEntry[];
  /** A matching file was left out: past a limit, not a regular file of the program's, or a name not UTF-8. */
  readonly filesTruncated: boolean;
  /** PNGs of the program's matplotlib figures, base64: those shown, then those left open. */
  readonly figures: readonly string[];
  /** A session's cell: the value of its last expression; null for none, or None. */
  readonly value?: CellValue | null;
  /** A session's cell: the session ended with it (the cell exited, or was killed). */
  readonly sessionEnded?: boolean;
}

/** A job's report with its output, as the host reads an answer. */
export interface AgentRunResponse extends AgentReport, AgentOutput {}

/** The answer to `GET /health`. */
/** What the host tells an agent before it starts: the file AGENT_CONFIG_FILE_NAME. */
export interface AgentConfig {
  /** Modules the runner imports before it is ready (the sandbox's `preload`). */
  readonly preload: readonly string[];
}

export interface AgentHealth {
  /** `ready` for its one job; `used` once it has taken it; `session` while the session it opened goes on. */
  readonly status: 'ready' | 'used' | 'session';
  /**
   * While ready: the memory the container holds that is not the idle interpreter's, which the
   * host adds to the program's limit; null where the agent cannot read it (gVisor).
   */
  readonly agentMemoryBytes?: number | null;
}

/** The body of every non-2xx answer, in fastify's shape. */
export interface AgentErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly error: string;
  readonly message: string;
}

/** The most code, data (as JSON) and stdin one job may carry, in bytes; the host checks it first. */
export const MAX_JOB_BYTES = 64 * 1024 * 1024;
/**
 * The largest request the agent accepts: the largest job, serialised. JSON escapes a control
 * character of code or stdin as six bytes (`\u0001`), so a job within MAX_JOB_BYTES can never
 * exceed this, whatever it holds.
 */
export const MAX_REQUEST_BYTES = 6 * MAX_JOB_BYTES + 64 * 1024;


const returnFilesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['patterns', 'maxFiles', 'maxBytes', 'timeoutMs'],
  properties: {
    patterns: { type: 'array', items: { type: 'string', minLength: 1 } },
    maxFiles: { type: 'integer', minimum: 0 },
    maxBytes: { type: 'integer', minimum: 0 },
    timeoutMs: { type: 'integer', minimum: 1 },
  },
} as const;

export const runRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'code', 'stdin', 'env', 'timeoutMs', 'cpuTimeMs', 'maxOutputBytes', 'stopOnOutputLimit',
    'rlimits', 'files', 'returnFiles', 'stdinOpen',
  ],
  properties: {
    code: { type: 'string' },
    stdin: { type: 'string' },
    env: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 1 },
    cpuTimeMs: { type: 'integer', minimum: 1 },
    maxOutputBytes: { type: 'integer', minimum: 0 },
    stopOnOutputLimit: { type: 'boolean' },
    stdinOpen: { type: 'boolean' },
    session: { type: 'boolean' },
    egress: { type: 'boolean' },
    egressCa: { type: 'string' },
    preload: { type: 'array', items: { type: 'string', minLength: 1 } },
    rlimits: {
      type: 'object',
      additionalProperties: false,
      required: ['fileSizeBytes', 'openFiles', 'stackBytes'],
      properties: {
        fileSizeBytes: { type: 'integer', minimum: 0 },
        openFiles: { type: 'integer', minimum: 8 },
        stackBytes: { type: 'integer', minimum: 65536 },
        processes: { type: 'integer', minimum: 0 },
      },
    },
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'content', 'encoding'],
        properties: {
          path: { type: 'string', minLength: 1 },
          content: { type: 'string' },
          encoding: { type: 'string', enum: ['utf8', 'base64'] },
        },
      },
    },
    returnFiles: returnFilesSchema,
  },
} as const;

export const cellRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'stdin', 'timeoutMs', 'cpuTimeMs', 'maxOutputBytes', 'stopOnOutputLimit', 'returnFiles'],
  properties: {
    code: { type: 'string' },
    stdin: { type: 'string' },
    timeoutMs: { type: 'integer', minimum: 1 },
    cpuTimeMs: { type: 'integer', minimum: 1 },
    maxOutputBytes: { type: 'integer', minimum: 0 },
    stopOnOutputLimit: { type: 'boolean' },
    returnFiles: returnFilesSchema,
    egress: { type: 'boolean' },
  },
} as const;

// Nullable through `type`, not anyOf: fast-json-stringify serialises anyOf by running Ajv at
// run time, which would bring Ajv back into every container's start-up.
const pythonErrorSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['type', 'message', 'traceback'],
  properties: {
    type: { type: 'string' },
    message: { type: 'string' },
    traceback: { type: 'string' },
  },
} as const;

export const reportSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'status', 'exitCode', 'signal', 'timedOut',
    'cpuTimeExceeded', 'memoryExceeded', 'outputTruncated', 'error', 'durationMs',
    'files', 'filesTruncated', 'figures',
  ],
  properties: {
    status: { type: 'string', enum: RUN_STATUSES },
    exitCode: { type: ['integer', 'null'] },
    signal: { type: ['string', 'null'] },
    timedOut: { type: 'boolean' },
    cpuTimeExceeded: { type: 'boolean' },
    memoryExceeded: { type: 'boolean' },
    outputTruncated: { type: 'boolean' },
    error: pythonErrorSchema,
    durationMs: { type: 'number' },
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'size'],
        properties: { path: { type: 'string' }, size: { type: 'integer' } },
      },
    },
    filesTruncated: { type: 'boolean' },
    figures: { type: 'array', items: { type: 'string' } },
    value: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['repr'],
      properties: {
        repr: { type: 'string' },
        json: { description: 'the value as JSON, where it has one' },
        html: { type: 'string' },
        png: { type: 'string', description: 'a PNG, base64' },
      },
    },
    sessionEnded: { type: 'boolean' },
  },
} as const;

export const errorBodySchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

/**
 * The interfaces above carry the documentation; the schemas are what is checked at run time.
 * These fail to compile if the two ever say different things: each must be assignable to the
 * type json-schema-to-ts reads from the other.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DeepMutable<T> = T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
true satisfies Same<DeepMutable<AgentRunRequest>, FromSchema<typeof runRequestSchema>>;
true satisfies Same<DeepMutable<AgentCellRequest>, FromSchema<typeof cellRequestSchema>>;
true satisfies Same<DeepMutable<AgentReport>, FromSchema<typeof reportSchema>>;
true satisfies Same<DeepMutable<AgentErrorBody>, FromSchema<typeof errorBodySchema>>;

/**
 * The agent's routes on its socket: `run` a job (NDJSON both ways), `cell` a session's next
 * cell, `stdin` a job's stdin stream, `interrupt` a session's running cell, `health` the probe.
 */
export const AGENT_ROUTES = Object.freeze({ run: '/run', cell: '/cell', stdin: '/stdin', interrupt: '/interrupt', health: '/health' } as const);
export type AgentExchangeRoute = typeof AGENT_ROUTES.run | typeof AGENT_ROUTES.cell;
