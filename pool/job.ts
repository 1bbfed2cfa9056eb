import type { AgentRunRequest, AgentRunResponse } from '../contract/protocol.js';
import { InvalidArgumentError } from '../contract/errors.js';
import { bytesOnDisk, checkFiles, checkReturnFiles, type JobFiles, type ReturnedFile } from './files.js';
import type { ProgramLimits } from './create-container.js';
import { MAX_ENV_BYTES, MAX_JOB_BYTES, MAX_TIMEOUT_MS, MIB, MIN_MEMORY_LIMIT_MB } from '../contract/limits.js';
import { checkInteger, describe, tmpfsMb, type ResolvedOptions } from './options.js';
import type { EgressPolicy, EgressRecord } from './egress/proxy.js';
import { egressEnv, grantNetwork, type JobNetwork } from './egress/policy.js';

export type { PythonError, RunStatus } from '../contract/protocol.js';
export type { JobFiles, ReturnedFile } from './files.js';

/** One job: Python code with JSON data in and a JSON result out. */
export interface Job {
  /** Python source, run as `__main__`. */
  readonly code: string;
  /**
   * Any JSON value; the program sees it as the global `data`.
   * @default null
   */
  readonly data?: unknown;
  /**
   * The program's stdin. A string is all of it: the program reads end-of-file after it. An
   * async iterable (a Node Readable such as a PassThrough you write to, or an async generator)
   * is passed on as it yields, while the program runs, and closed when it ends: `input()`
   * waits for it, within the job's limits.
   * @default ''
   */
  readonly stdin?: string | AsyncIterable<string | Uint8Array>;
  /**
   * This job's wall-clock limit, from the moment the program gets the job.
   * @default the sandbox's timeoutMs
   */
  readonly timeoutMs?: number;
  /**
   * This job's CPU-time limit, for all its processes together.
   * @default the sandbox's cpuTimeMs, else this job's timeoutMs
   */
  readonly cpuTimeMs?: number;
  /**
   * Environment variables the program sees, on top of PATH, LANG, HOME and Python's own few.
   * Names are letters, digits and `_`; values have no NUL; 128 KiB in all.
   * @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Files written under the working directory before the code runs, owned by the program:
   * relative path -> text (UTF-8) or bytes. Directories are made as needed.
   * @default {}
   */
  readonly files?: JobFiles;
  /**
   * Glob patterns, relative to the working directory, of the files to bring back once the
   * program has ended: regular files only, as `files` of the result, in path order.
   * @default []
   */
  readonly returnFiles?: readonly string[];
  /**
   * This job's memory limit, in MiB, set on its container before the program gets the job:
   * below the sandbox's `memoryLimitMb`, or above it up to `maxJobMemoryLimitMb`.
   * @default the sandbox's memoryLimitMb
   */
  readonly memoryLimitMb?: number;
  /**
   * This job's processes and threads, set the same way: up to `maxJobPidsLimit`.
   * @default the sandbox's pidsLimit
   */
  readonly pidsLimit?: number;
  /**
   * What this job may reach, within the sandbox's `network.allow`: the job's program gets
   * proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) for the host's egress proxy,
   * which lets through these and nothing else, and reports each connection in `egress`.
   * @default none: the job reaches nothing
   */
  readonly network?: JobNetwork;
  /** Aborts the job, waiting or running: `run()` then rejects with AbortError. */
  readonly signal?: AbortSignal;
  /**
   * docker-python-sandbox's choice of Python 3. Accepted for code written for it: `true`, or
   * left out; warmbox has no Python 2.
   */
  readonly v3?: true;
}

/** How `run()` reports while the job runs. */
export interface RunOptions {
  /** The program's stdout as it is written, decoded as UTF-8, within `maxOutputBytes`. */
  readonly onStdout?: (chunk: string) => void;
  /** The program's stderr as it is written, the same way. */
  readonly onStderr?: (chunk: string) => void;
}

/** How a job ended. Untrusted code misbehaving always ends here, never in a rejection. */
export interface RunResult extends Omit<AgentRunResponse, 'files' | 'figures' | 'value' | 'sessionEnded'> {
  /** What the program left in the global `result`, or null if it set none. */
  readonly result: unknown;
  /** The files that matched `returnFiles`, in path order. */
  readonly files: readonly ReturnedFile[];
  /** PNGs of the program's matplotlib figures: those it showed, then those still open at its end. */
  readonly figures: readonly Buffer[];
  /** True for every status but `ok`. */
  readonly isError: boolean;
  /** Every connection the program asked the egress proxy for, allowed or not; empty for a job without network. */
  readonly egress: readonly EgressRecord[];
}

const JOB_FIELDS = new Set(['code', 'data', 'stdin', 'timeoutMs', 'cpuTimeMs', 'memoryLimitMb', 'pidsLimit', 'env', 'files', 'returnFiles', 'network', 'signal', 'v3']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The most stdin, in bytes, that goes inside the job's JSON; more is streamed. */
export const INLINE_STDIN_BYTES = 64 * 1024;

export interface PreparedJob {
  readonly request: AgentRunRequest;
  /**
   * The job's `data` as JSON, encoded once: these bytes count toward MAX_JOB_BYTES and go to
   * the agent as they are, on a line of their own.
   */
  readonly dataJson: Buffer;
  readonly signal: AbortSignal | undefined;
  /** The job's stdin when it is a stream: sent while the program runs. */
  readonly stdinSource: AsyncIterable<string | Uint8Array> | undefined;
  /** The job's own memory and pids limits, where it set one: its container is changed to them first. */
  readonly limits: ProgramLimits | undefined;
  /** What the job may reach, for its egress proxy; undefined for a job without network. */
  readonly egress: EgressPolicy | undefined;
}

/** Checks a job and serialises its data, before any container is touched. */
export function prepareJob(job: unknown, options: ResolvedOptions, listeners: RunOptions = {}): PreparedJob {
  const fields = typeof job === 'string' ? { code: job } : job;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new InvalidArgumentError('job', `must be a code string or a job object, got ${describe(job)}`);
  }
  for (const key of Object.keys(fields)) {
    if (!JOB_FIELDS.has(key)) throw new InvalidArgumentError(`job.${key}`, 'is not a field of a job');
  }
  const { code, data = null, stdin: givenStdin = '', timeoutMs = options.timeoutMs, cpuTimeMs: ownCpuTimeMs, memoryLimitMb, pidsLimit, env, files, returnFiles, network, signal, v3 } = fields as Job;
  // null is a wrong value, not a missing one: only undefined takes the default.
  const cpuTimeMs = ownCpuTimeMs === undefined ? (options.cpuTimeMs ?? timeoutMs) : ownCpuTimeMs;
  if (typeof code !== 'string') throw new InvalidArgumentError('job.code', `must be a string, got ${describe(code)}`);
  // A stdin string counts towards the job's size whether it goes inline or streamed.
  const stdinBytes = typeof givenStdin === 'string' ? Buffer.byteLength(givenStdin) : 0;
  const stdinSource = typeof givenStdin === 'string' ? streamedStdin(givenStdin, stdinBytes) : checkStdinSource(givenStdin);
  const stdin = stdinSource === undefined ? (givenStdin as string) : '';
  checkRunOptions(listeners);
  checkInteger('job.timeoutMs', timeoutMs, [1, MAX_TIMEOUT_MS]);
  checkInteger('job.cpuTimeMs', cpuTimeMs, [1, MAX_TIMEOUT_MS]);
  // A job's memory holds the container's files too (tmpfsMb), which outlive its program.
  if (memoryLimitMb !== undefined) checkInteger('job.memoryLimitMb', memoryLimitMb, [Math.max(MIN_MEMORY_LIMIT_MB, tmpfsMb(options)), options.maxJobMemoryLimitMb]);
  if (pidsLimit !== undefined) checkInteger('job.pidsLimit', pidsLimit, [1, options.maxJobPidsLimit]);
  const limits = { memoryLimitMb: memoryLimitMb ?? options.memoryLimitMb, pidsLimit: pidsLimit ?? options.pidsLimit };
  const ownLimits = limits.memoryLimitMb !== options.memoryLimitMb || limits.pidsLimit !== options.pidsLimit;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('job.signal', `must be an AbortSignal, got ${describe(signal)}`);
  }
  if (v3 !== undefined && v3 !== true) {
    throw new InvalidArgumentError('job.v3', `can only be true: warmbox runs Python 3 and has no Python 2, got ${describe(v3)}`);
  }
  const checkedEnv = checkEnv(env);
  const egress = grantNetwork(network, options.network, timeoutMs, 'job.network');
  const checkedFiles = checkFiles(files);
  const patterns = checkReturnFiles(returnFiles);
  const dataJson = Buffer.from(serialiseData(data));
  const codeBytes = Buffer.byteLength(code);
  const size = codeBytes + dataJson.length + stdinBytes + checkedFiles.contentBytes;
  if (size > MAX_JOB_BYTES) {
    throw new InvalidArgumentError('job', `carries ${size} bytes of code, data, stdin and files; at most ${MAX_JOB_BYTES} are accepted`);
  }
  const workDirBytes = options.workDirSizeMb * MIB;
  // The code takes a file of its own there: main.py.
  const diskBytes = checkedFiles.diskBytes + bytesOnDisk(codeBytes);
  if (checkedFiles.files.length > 0 && diskBytes > workDirBytes) {
    throw new InvalidArgumentError('job.files', `take ${diskBytes} bytes with the code, more than the working directory holds (workDirSizeMb: ${options.workDirSizeMb})`);
  }
  return {
    request: {
      code,
      stdin,
      env: egress === undefined ? checkedEnv : egressEnv(egress, checkedEnv),
      ...(egress === undefined ? {} : { egress: true }),
      timeoutMs,
      cpuTimeMs,
      maxOutputBytes: options.maxOutputBytes,
      stopOnOutputLimit: options.stopOnOutputLimit,
      rlimits: {
        fileSizeBytes: options.maxFileSizeMb * MIB,
        openFiles: options.maxOpenFiles,
        stackBytes: options.stackSizeMb * MIB,
      },
      files: checkedFiles.files,
      stdinOpen: stdinSource !== undefined,
      returnFiles: {
        patterns,
        maxFiles: options.maxReturnFiles,
        maxBytes: options.maxReturnBytes,
        timeoutMs: options.returnFilesTimeoutMs,
      },
    },
    dataJson,
    signal,
    stdinSource,
    limits: ownLimits ? limits : undefined,
    egress,
  };
}

/**
 * A stdin string past INLINE_STDIN_BYTES goes to the agent as a stream (`POST /stdin`), as
 * bytes, rather than inside the job's JSON: there, the agent would hold it whole, twice (the
 * line and the parsed string), in the container's memory, which is the program's.
 */
function streamedStdin(stdin: string, bytes: number): AsyncIterable<Uint8Array> | undefined {
  if (bytes <= INLINE_STDIN_BYTES) return undefined;
  const buffer = Buffer.from(stdin);
  return (async function* () {
    yield buffer;
  })();
}

function checkStdinSource(stdin: unknown): AsyncIterable<string | Uint8Array> {
  if (typeof stdin !== 'object' || stdin === null || typeof (stdin as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function' || stdin instanceof Uint8Array) {
    throw new InvalidArgumentError('job.stdin', `must be a string or an async iterable of strings or bytes, got ${describe(stdin)}`);
  }
  return stdin as AsyncIterable<string | Uint8Array>;
}

function checkRunOptions(listeners: unknown): void {
  if (typeof listeners !== 'object' || listeners === null) throw new InvalidArgumentError('options', `must be an object of callbacks, got ${describe(listeners)}`);
  for (const name of ['onStdout', 'onStderr'] as const) {
    const listener = (listeners as RunOptions)[name];
    if (listener !== undefined && typeof listener !== 'function') throw new InvalidArgumentError(`options.${name}`, `must be a function, got ${describe(listener)}`);
  }
}

function checkEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new InvalidArgumentError('job.env', `must be an object of strings, got ${describe(env)}`);
  }
  let bytes = 0;
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new InvalidArgumentError(`job.env.${name}`, 'is not a variable name: letters, digits and _, not starting with a digit');
    if (typeof value !== 'string') throw new InvalidArgumentError(`job.env.${name}`, `must be a string, got ${describe(value)}`);
    if (value.includes('\0')) throw new InvalidArgumentError(`job.env.${name}`, 'must not contain NUL');
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
  }
  if (bytes > MAX_ENV_BYTES) throw new InvalidArgumentError('job.env', `holds ${bytes} bytes; at most ${MAX_ENV_BYTES} are accepted`);
  return { ...(env as Record<string, string>) };
}

function serialiseData(data: unknown): string {
  // JSON.stringify drops or rewrites what has no JSON form without a word (a function, an
  // undefined, a Map, NaN): the program would see other data than the caller passed.
  const problem = findNonJson(data);
  if (problem !== undefined) throw new InvalidArgumentError(`job.${problem.path}`, `must be JSON: ${problem.why}`);
  try {
    return JSON.stringify(data);
  } catch (error) {
    throw new InvalidArgumentError('job.data', `must be JSON-serialisable: ${(error as Error).message}`);
  }
}

/**
 * The first value, by its path from `data`, that JSON.stringify would drop or rewrite:
 * anything but null, booleans, strings, finite numbers, dense arrays and plain objects of
 * these. A value with `toJSON` (a Date) is JSON's own contract, so it is taken as it says.
 * Iterative, so any depth; cycles are left to JSON.stringify to refuse.
 */
function findNonJson(data: unknown): { path: string; why: string } | undefined {
  const seen = new Set<object>();
  const stack: Array<[unknown, string]> = [[data, 'data']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path, why: `${value} has no JSON form` };
      continue;
    }
    if (typeof value !== 'object') return { path, why: `${describe(value)} has no JSON form` };
    if (seen.has(value) || typeof (value as { toJSON?: unknown }).toJSON === 'function') continue;
    seen.add(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return { path: `${path}[${i}]`, why: 'an array with holes has no JSON form' };
        stack.push([value[i], `${path}[${i}]`]);
      }
      continue;
    }
    const prototype = Object.getPrototypeOf(value) as object | null;
    if (prototype !== Object.prototype && prototype !== null) {
      return { path, why: `a ${prototype.constructor?.name ?? 'non-plain object'} has no JSON form; pass a plain object or an array` };
    }
    for (const [key, item] of Object.entries(value)) stack.push([item, `${path}.${key}`]);
  }
  return undefined;
}
