import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { finished, pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { PythonShell } from 'python-shell';
import { CappedOutput } from './capped-output.js';
import { killProcessesOf, killProcessGroup } from './kill-processes.js';
import { readProcessMemory, type CgroupCounters } from './cgroup.js';
import { decideOutcome, NO_RESULT, type Report, type StopReason } from './outcome.js';
import { collectFiles, digestExisting, digestInputs, type InputDigests } from './collect-files.js';
import { MAIN_FILE_NAME, RUNNER_FDS, RUNNER_READY_LINE, runnerLayout } from '../contract/layout.js';
import { ERROR_TYPES, REPORT_LINES, type ErrorType, type ReportLine } from '../contract/report.js';
import { byteLengthOf, type AgentCellRequest, type AgentReport, type AgentReportAnswer, type AgentRunRequest, type CellValue, type JsonPieces, type PythonError, type ReturnFilesRequest } from '../contract/protocol.js';

/** Hears the program's output as it is written, decoded, within maxOutputBytes. */
export type OutputListener = (stream: 'stdout' | 'stderr', text: string) => void;

export interface PythonRunnerOptions {
  readonly pythonPath: string;
  /** agent/runner.py */
  readonly runnerPath: string;
  /** The working directory of the program. */
  readonly cwd: string;
  /**
   * The program's own uid and gid, used by nothing else. With them, the agent can end every
   * process of the program, even one that left its process group. Unset only where the agent
   * runs outside a container (its tests); then the process group is what gets killed.
   */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * The container's cgroup, to tell an OOM kill from a plain SIGKILL and to enforce the CPU
   * limit. Unset outside a container (the agent's tests), where the cgroup is the machine's.
   */
  readonly cgroup?: CgroupCounters;
  /** Modules the runner imports before it is ready (the sandbox's `preload`). */
  readonly preload?: readonly string[];
  /** Where the files a job returns are copied to, for the host. */
  readonly returnedFilesDir: string;
}

// The program's whole environment, with HOME its working directory and the job's own `env`
// on top (set by the runner): nothing of the agent's leaks into it. Bytecode is written as
// python3 writes it (no PYTHONDONTWRITEBYTECODE, no -B): a module the program writes and
// imports, in its process or a child's, gets its __pycache__ in /work; the image's own are
// compiled already, on a read-only root.
const PROGRAM_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
  PYTHONIOENCODING: 'utf-8',
  PYTHONUNBUFFERED: '1',
  // Agg, with a show() that keeps each figure for the result (agent/warmbox_figures.py); it is
  // importable by every Python process in the image, children included.
  MPLBACKEND: 'module://warmbox_figures',
};

// After the program's main process has ended and its other processes were killed, how long
// its pipes may take to close before the agent stops waiting for them.
const DRAIN_MS = 500;
// The report holds `result`: beyond this, the program gets an error rather than the agent
// running out of memory.
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
// A session's cell over a limit is interrupted (KeyboardInterrupt); one still running this
// long after is killed, and its session ends.
const INTERRUPT_GRACE_MS = 500;
// The CPU limit is checked no more often than this.
const CPU_CHECK_MIN_MS = 10;
// A job larger than this leaves its copies in the agent's heap as garbage that V8, idle while
// the program runs, would not collect: the agent collects it as soon as the job is handed over.
const COLLECT_AFTER_BYTES = 1024 * 1024;

const CLOSING_BRACE = Buffer.from('}');
// The child's file descriptors: stdin and stdout piped, 2 closed, and a pipe at each of the runner's own.
export const RUNNER_STDIO: Array<'pipe' | 'ignore'> = Array.from({ length: Math.max(...Object.values(RUNNER_FDS)) + 1 }, (_, fd) => (fd === 2 ? 'ignore' : 'pipe'));

/** The counters a job or a cell is measured from, and when it was handed over. */
interface Baseline {
  readonly oomKills: number | null;
  readonly cpuUsageUs: number | null;
  readonly agentCpu: NodeJS.CpuUsage;
  readonly at: number;
}

/** One job's or cell's output, as it comes, until `stop`. */
interface CellOutput {
  readonly stdout: CappedOutput;
  readonly stderr: CappedOutput;
  stop(): void;
}

/** A full garbage collection where the image's Node exposes it (`--expose-gc`), else nothing. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The Python interpreter of one container, started through python-shell when the agent boots
 * and waiting in agent/runner.py for the one job it will run.
 *
 * What python-shell does for warmbox: it spawns the interpreter (pythonPath, its options and
 * the runner's arguments, in binary mode, so that stdout is bytes and never split into
 * lines), re-emits the child's failure to start as one 'error', and says 'close' once the
 * child has exited and its streams ended. The rest is warmbox's, on the child it made: the
 * extra pipes (RUNNER_FDS), the uid, the process group, the output caps, and the kill. Its
 * own conveniences (messages, parsers, run()) are not used: a job is one framed write, and
 * its answer a report read from a channel of its own.
 */
export class PythonRunner {
  readonly #shell: PythonShell;
  readonly #options: PythonRunnerOptions;
  readonly #jobChannel: Writable;
  readonly #resultChannel: Readable;
  readonly #stderr: Readable;
  readonly #exit: Promise<[number | null, NodeJS.Signals | null]>;
  readonly #closed: Promise<void>;
  /** The child's 'error': a failed spawn (no interpreter at pythonPath), or a failed signal. */
  readonly #failed: Promise<Error>;
  #report: Buffer[] = [];
  #reportBytes = 0;
  /** Newlines on the result channel after "ready": the runner's report is REPORT_LINES' lines. */
  #reportLines = 0;
  #reportDone: (() => void) | undefined;
  /** The limit the program was stopped for: the first one hit. */
  #stoppedFor: StopReason | undefined;
  /** The job opened a session: the runner stays for further cells. */
  #session = false;
  /** A session's cell is running: an interrupt reaches it. */
  #cellRunning = false;
  /** The runner has ended: no cell can run any more. */
  #ended = false;
  /** After a session's cell was interrupted for a limit: the kill, if it is still running. */
  #graceTimer: NodeJS.Timeout | undefined;
  /**
   * The counters as they stood once the runner was ready and waiting, the baselines of the
   * job's OOM and CPU checks: nothing of the program runs between then and the job (the
   * agent's own CPU time is taken at the same moment and subtracted), and reading them
   * there keeps them off the job's path, where under gVisor the CPU time is a walk of /proc.
   */
  #idle: { readonly oomKills: number | null; readonly cpuUsageUs: number | null; readonly agentCpu: NodeJS.CpuUsage } | undefined;

  private constructor(options: PythonRunnerOptions) {
    this.#options = options;
    this.#shell = new PythonShell(options.runnerPath, {
      mode: 'binary',
      pythonPath: options.pythonPath,
      pythonOptions: ['-I', '-u'],
      // The layout and framing first (contract/layout.ts), then the modules to preload.
      args: [runnerLayout(), ...(options.preload ?? [])],
      // fd 2 stays closed to python-shell, which would keep all of stderr in a string of its
      // own; the runner moves RUNNER_FDS.stderr to 2. The job comes in on RUNNER_FDS.job, the
      // result goes out on RUNNER_FDS.result.
      stdio: RUNNER_STDIO,
      cwd: options.cwd,
      env: { ...PROGRAM_ENV, HOME: options.cwd },
      detached: true,
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
    });
    const child = this.#shell.childProcess;
    // Node types stdio only up to fd 4.
    const pipes = child.stdio as unknown as Array<Writable & Readable>;
    this.#jobChannel = pipes[RUNNER_FDS.job]!;
    this.#resultChannel = pipes[RUNNER_FDS.result]!;
    this.#stderr = pipes[RUNNER_FDS.stderr]!;
    // Every exit path below handles these: a program that ends without reading its stdin or
    // its job must not crash the agent with EPIPE.
    for (const stream of [child.stdin, this.#jobChannel]) stream?.on('error', () => {});
    this.#exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.#closed = new Promise((resolve) => this.#shell.once('close', resolve));
    // python-shell re-emits the child's 'error' on itself, where an emitter with no listener
    // would throw it and end the agent; the start-up race in #ready reports it instead.
    this.#failed = new Promise((resolve) => this.#shell.on('error', resolve));
  }

  /**
   * The memory the container holds that is not the interpreter's: the agent's own, its
   * init's, and the kernel's for them, which the host adds to the program's limit so that
   * `memoryLimitMb` is the program's alone, its interpreter included. Measured while the
   * interpreter waits for its job; null where the container's cgroup cannot be read (under
   * gVisor, whose kernel shows none; outside a container).
   */
  agentMemoryBytes(): number | null {
    const held = this.#options.cgroup?.unreclaimableBytes() ?? null;
    const { pid } = this.#shell.childProcess;
    const interpreter = pid === undefined ? null : readProcessMemory(`/proc/${pid}/status`);
    return held === null || interpreter === null ? null : held - interpreter;
  }

  /** Starts the interpreter; resolves once it has imported everything and waits for a job. */
  static async start(options: PythonRunnerOptions): Promise<PythonRunner> {
    const runner = new PythonRunner(options);
    await runner.#ready();
    return runner;
  }

  async #ready(): Promise<void> {
    const startupText: string[] = [];
    const startupErrors = new CappedOutput(16 * 1024, (text) => startupText.push(text));
    const collect = (chunk: Buffer) => startupErrors.push(chunk);
    this.#stderr.on('data', collect);
    this.#resultChannel.on('data', (chunk: Buffer) => this.#collectReport(chunk));
    const ready = new Promise<void>((resolve) => {
      const check = () => {
        if (Buffer.concat(this.#report).toString('latin1').startsWith(RUNNER_READY_LINE)) {
          this.#resultChannel.off('data', check);
          resolve();
        }
      };
      this.#resultChannel.on('data', check);
    });
    const failed = Promise.race([
      this.#exit.then(([code, signal]) => `exited with ${code ?? signal}`),
      this.#failed.then((error) => `could not be started: ${error.message}`),
    ]);
    const outcome = await Promise.race([ready.then(() => null), failed]);
    if (outcome !== null) {
      await Promise.race([finished(this.#stderr).catch(() => {}), this.#closed]);
      startupErrors.end();
      throw new Error(`the Python runner failed to start: it ${outcome}\n${startupText.join('')}`);
    }
    this.#stderr.off('data', collect);
    const cgroup = this.#options.cgroup;
    this.#idle = { oomKills: cgroup?.oomKills() ?? null, cpuUsageUs: cgroup?.cpuUsageUs() ?? null, agentCpu: process.cpuUsage() };
    const rest = Buffer.concat(this.#report).subarray(RUNNER_READY_LINE.length);
    this.#report = [rest];
    this.#reportBytes = rest.length;
    this.#reportLines = countNewlines(rest);
  }

  #collectReport(chunk: Buffer): void {
    if (this.#reportBytes > MAX_REPORT_BYTES) return;
    this.#report.push(chunk);
    this.#reportBytes += chunk.length;
    this.#reportLines += countNewlines(chunk);
    if (this.#reportLines >= REPORT_LINES.length) this.#reportDone?.();
  }

  /** Resolves once the report is complete: the program is over, bar its own teardown. */
  #reported(): Promise<void> {
    return new Promise((resolve) => {
      this.#reportDone = resolve;
      if (this.#reportLines >= REPORT_LINES.length) resolve();
    });
  }

  /**
   * Hands the one job to the program, `data` as the host serialised it; resolves with the
   * result whatever the program did. Not async, so that nothing of the job is held once it
   * is written: the agent's memory is not in the program's limit, and a large `data` kept
   * here would take the program's room.
   */
  run(job: AgentRunRequest, data: JsonPieces, onOutput: OutputListener): Promise<AgentReportAnswer> {
    this.#session = job.session === true;
    const output = this.#listen(job.maxOutputBytes, job.stopOnOutputLimit, onOutput);
    const { code, rlimits, env } = job;
    // Before the job is written and let go: what it brings, to tell from what the program makes.
    const inputs = job.returnFiles.patterns.length === 0 ? undefined : digestInputs(job.returnFiles.patterns, MAIN_FILE_NAME, code, job.files);
    const session = this.#session ? `,"session":true,"preload":${JSON.stringify(job.preload ?? [])}` : '';
    const head = `{"code":${JSON.stringify(code)},"rlimits":${JSON.stringify(rlimits)},"env":${JSON.stringify(env)},"files":${JSON.stringify(job.files)}${session},"data":`;
    const started = this.#started();
    // A session's job channel stays open for its cells; a job's closes after the job.
    this.#send(head, data, !this.#session);
    if (job.stdin !== '') this.#shell.send(job.stdin);
    // A session's cells read the stdin each brings, not the pipe: its end is what they see.
    if (!job.stdinOpen || this.#session) this.#shell.stdin.end();
    return this.#supervise(job, { request: job.returnFiles, inputs }, output, started);
  }

  /**
   * Runs one more cell of the session the job opened, in the same interpreter; resolves with
   * its result whatever it did. Throws only if the session has ended.
   */
  async runCell(cell: AgentCellRequest, data: JsonPieces, onOutput: OutputListener): Promise<AgentReportAnswer> {
    if (!this.#session || this.#ended) throw new Error('no session is open in this container');
    // What earlier cells left, to tell from what this one makes or changes.
    const inputs = cell.returnFiles.patterns.length === 0 ? undefined : await digestExisting(this.#options.cwd, cell.returnFiles);
    const output = this.#listen(cell.maxOutputBytes, cell.stopOnOutputLimit, onOutput);
    const started = this.#started(true);
    this.#send(`{"code":${JSON.stringify(cell.code)},"stdin":${JSON.stringify(cell.stdin)},"data":`, data, false);
    return this.#supervise(cell, { request: cell.returnFiles, inputs }, output, started);
  }

  /** Whether a session is open: its job was run, and its runner has not ended. */
  get sessionOpen(): boolean {
    return this.#session && !this.#ended;
  }

  /** Raises KeyboardInterrupt in a session's running cell; does nothing between cells. */
  interrupt(): boolean {
    const { pid } = this.#shell.childProcess;
    if (!this.#cellRunning || pid === undefined) return false;
    try {
      process.kill(pid, 'SIGINT');
      return true;
    } catch {
      return false; // it has just ended
    }
  }

  /**
   * The counters a job or cell is measured from: a job's were read when the runner became
   * ready (see #idle); a later cell's are read now, as it is handed over.
   */
  #started(cell = false): Baseline {
    this.#stoppedFor = undefined;
    this.#cellRunning = this.#session;
    const cgroup = this.#options.cgroup;
    const counters = cell || this.#idle === undefined ? { oomKills: cgroup?.oomKills() ?? null, cpuUsageUs: cgroup?.cpuUsageUs() ?? null, agentCpu: process.cpuUsage() } : this.#idle;
    return { ...counters, at: performance.now() };
  }

  /**
   * Writes a job or a cell on the job channel: its length, its fields, then its data as the
   * bytes the host sent, written as they are, not copied, so that the runner reads it all
   * into one buffer of that size. Not async, so that nothing of it is held once written: the
   * agent's memory is not in the program's limit, and a large `data` kept here would take
   * the program's room.
   */
  #send(head: string, data: JsonPieces, end: boolean): void {
    const headBytes = Buffer.from(head);
    const dataBytes = byteLengthOf(data);
    const pieces = [Buffer.from(`${headBytes.length + dataBytes + 1}\n`), headBytes, ...data, CLOSING_BRACE];
    if (headBytes.length + dataBytes > COLLECT_AFTER_BYTES) {
      for (const piece of pieces) this.#jobChannel.write(piece);
      if (end) this.#jobChannel.end(collectGarbage);
      else this.#jobChannel.write(Buffer.alloc(0), collectGarbage);
    } else if (end) {
      // A small job crosses in one write.
      this.#jobChannel.end(Buffer.concat(pieces));
    } else {
      this.#jobChannel.write(Buffer.concat(pieces));
    }
  }

  /** The program's output for one job or cell, capped, passed on from now until `stop`. */
  #listen(maxOutputBytes: number, stopOnOutputLimit: boolean, onOutput: OutputListener): CellOutput {
    const overflowed = stopOnOutputLimit ? () => this.#stop('output') : undefined;
    const stdout = new CappedOutput(maxOutputBytes, (text) => onOutput('stdout', text), overflowed);
    const stderr = new CappedOutput(maxOutputBytes, (text) => onOutput('stderr', text), overflowed);
    const onStdout = (chunk: Buffer) => stdout.push(chunk);
    const onStderr = (chunk: Buffer) => stderr.push(chunk);
    this.#shell.stdout.on('data', onStdout);
    this.#stderr.on('data', onStderr);
    return {
      stdout,
      stderr,
      stop: () => {
        this.#shell.stdout.off('data', onStdout);
        this.#stderr.off('data', onStderr);
        stdout.end();
        stderr.end();
      },
    };
  }

  async #supervise(
    limits: { readonly timeoutMs: number; readonly cpuTimeMs: number },
    returnFiles: { request: ReturnFilesRequest; inputs: InputDigests | undefined },
    { stdout, stderr, stop: stopListening }: CellOutput,
    baseline: Baseline,
  ): Promise<AgentReportAnswer> {
    const timer = setTimeout(() => this.#stop('timeout'), limits.timeoutMs);
    const cpuWatch = this.#watchCpu(limits.cpuTimeMs, baseline, () => this.#stop('cpu'));

    // The job is over when the runner has reported (it then stops itself: see below), or
    // when its process ended without a report. A session's cell is over when its report is
    // whole, and the runner goes on.
    const exit = await Promise.race([this.#exit, this.#reported().then(() => undefined)]);
    const durationMs = performance.now() - baseline.at;
    clearTimeout(timer);
    clearTimeout(this.#graceTimer);
    cpuWatch.stop();
    this.#cellRunning = false;
    // A session's cell that reported and left the session open: its report is whole, and read now.
    const open = this.#session && exit === undefined ? parseReport(this.#report, false) : null;
    const ended = open?.open !== true;
    // A runner that reported has stopped itself (SIGSTOP), its output closed, and is ended
    // only once the answer is sent: under gVisor, whose kernel tears an interpreter down on
    // the same two cores as the reply, that teardown cost a quiet job more than the job (p50
    // 16.6-18.6 -> 11.5-13.6 ms on runsc 20240729, three rounds of 25; runc the same either
    // way). Stopped, it runs nothing more. Not when files are to be read: a thread of the
    // program may write one in the moment before the stop, so then everything ends first.
    // Only with a uid of the program's own, by which the others are found (not in the agent's tests).
    const spared = ended && exit === undefined && returnFiles.request.patterns.length === 0 && this.#options.uid !== undefined ? this.#shell.childProcess.pid : undefined;
    if (ended) {
      this.#ended = true;
      // Whatever the program left behind (daemons, a fork bomb, a child holding stdout open)
      // ends with it, so the reply never waits for it.
      this.kill(spared);
      await this.#drain();
    }
    // Read once drained: a runner that reported and exited may be heard exiting first.
    const overflowed = this.#reportBytes > MAX_REPORT_BYTES;
    const runnerReport = ended || overflowed ? parseReport(this.#report, overflowed) : open;
    // The runner waited for the agent to read the cell's output before it reported: it is all in.
    stopListening();
    if (!ended) this.#nextReport();

    const oomKillsAfter = this.#options.cgroup?.oomKills() ?? null;
    const oomKilled = baseline.oomKills !== null && oomKillsAfter !== null && oomKillsAfter > baseline.oomKills;
    const outcome = decideOutcome({ report: runnerReport, exit, stoppedFor: this.#stoppedFor, oomKilled });
    const { status, resultJson, ...flags } = outcome;
    // A job's processes have all ended: nothing changes the directory while it is read. A
    // session's may go on; the copy reads each file for at most the size it had when opened.
    const collected = await collectFiles(this.#options.cwd, returnFiles.request, this.#options.returnedFilesDir, returnFiles.inputs);
    const report: AgentReport = {
      status,
      ...flags,
      outputTruncated: stdout.truncated || stderr.truncated,
      durationMs: Math.round(durationMs * 100) / 100,
      files: collected.files,
      filesTruncated: collected.truncated,
      figures: runnerReport?.figures ?? [],
      ...(this.#session ? { value: parseValue(runnerReport?.value), sessionEnded: ended } : {}),
    };
    // Once the caller has written the answer, in the promise callbacks that run before this.
    if (spared !== undefined) setImmediate(() => this.kill());
    return { report, resultJson };
  }

  /** After a session's cell: the report buffer starts again for the next. */
  #nextReport(): void {
    this.#report = [];
    this.#reportBytes = 0;
    this.#reportLines = 0;
    this.#reportDone = undefined;
  }

  /**
   * Kills the program once its processes together have used `limitMs` of CPU, read from the
   * container's cgroup less the agent's own. CPU time grows at most as fast as the wall
   * clock times the cores, so each check is scheduled for the earliest moment the limit
   * could have been reached, never polled.
   */
  #watchCpu(limitMs: number, baseline: Baseline, onExceeded: () => void): { stop(): void } {
    const cgroup = this.#options.cgroup;
    const usageBefore = baseline.cpuUsageUs;
    const agentBefore = baseline.agentCpu;
    let timer: NodeJS.Timeout | undefined;
    const watch = { stop: () => clearTimeout(timer) };
    if (cgroup === undefined || usageBefore === null) return watch;
    const cores = availableParallelism();
    const check = () => {
      const agent = process.cpuUsage(agentBefore);
      const usedMs = ((cgroup.cpuUsageUs() ?? usageBefore) - usageBefore - agent.user - agent.system) / 1000;
      if (usedMs >= limitMs) return onExceeded();
      timer = setTimeout(check, Math.max(CPU_CHECK_MIN_MS, (limitMs - usedMs) / cores));
    };
    timer = setTimeout(check, Math.max(CPU_CHECK_MIN_MS, limitMs / cores));
    return watch;
  }

  /**
   * Stops the program for a limit, only if it has not reported yet: one that finished as the
   * limit was hit finished, and its result says so.
   */
  #stop(reason: StopReason): void {
    if (this.#reportLines >= REPORT_LINES.length || this.#stoppedFor !== undefined) return;
    this.#stoppedFor = reason;
    if (!this.#session) return this.kill();
    // A session's cell is interrupted first, and the session survives if that ends it.
    this.interrupt();
    this.#graceTimer = setTimeout(() => this.kill(), INTERRUPT_GRACE_MS);
  }

  /**
   * Passes what the host sends on `POST /stdin` to the program's stdin, and closes it when
   * that ends. Resolves once it is all written, or the program stopped reading.
   */
  async pipeStdin(source: Readable): Promise<void> {
    await pipeline(source, this.#shell.stdin).catch(() => {
      // The program ended, or closed its stdin: what it did not read is of no use to it.
    });
  }

  /**
   * Ends the program and every process it started; all but the runner's own process, if
   * `spare` is its pid and the program has a uid of its own to find the others by.
   */
  kill(spare?: number): void {
    const { uid } = this.#options;
    const { pid } = this.#shell.childProcess;
    if (spare !== undefined && uid !== undefined) return killProcessesOf(uid, spare);
    if (pid !== undefined) killProcessGroup(pid);
    if (uid !== undefined) killProcessesOf(uid);
  }

  /**
   * Waits for the end of the program's output; of the result channel too, unless the report
   * is whole already: then nothing more on it counts, and its end, which comes only once the
   * runner's process is torn down, is not worth waiting for.
   */
  async #drain(): Promise<void> {
    const output = [this.#stderr, this.#shell.stdout];
    const streams = this.#reportLines >= REPORT_LINES.length ? output : [this.#resultChannel, ...output];
    const drained = Promise.all(streams.map((s) => finished(s).catch(() => {})));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, DRAIN_MS, 'late');
    });
    if ((await Promise.race([drained, late])) === 'late') {
      for (const stream of streams) stream.destroy();
    }
    clearTimeout(timer);
  }
}

/**
 * Reads what the runner wrote on its result channel after "ready" (or after a session's last
 * cell): the error line (JSON null or an error), the `result` line, which is passed on
 * unparsed, the figures, a cell's value, and the ending. Null when there is no whole report:
 * the program ended before the runner could report, or was killed (by the OOM killer, say)
 * while it wrote one, and how it ended then says what happened.
 */
export function parseReport(chunks: JsonPieces, overflowed: boolean): Report | null {
  if (overflowed) {
    return problem(ERROR_TYPES.result, `result is larger than ${MAX_REPORT_BYTES} bytes once serialised`);
  }
  const lines = splitLines(chunks);
  if (lines.length < REPORT_LINES.length + 1) return null;
  const line = (name: ReportLine) => lines[REPORT_LINES.indexOf(name)]!;
  // The result line stays in the pieces it came in: it may be most of the report, and only the host parses it.
  const [errorLine, resultJson, figuresLine, valueLine, exitLine] = [line('error'), line('result'), line('figures'), line('value'), line('ending')];
  if (lines.length > REPORT_LINES.length + 1 || lines.at(-1)!.some((piece) => piece.length > 0)) return corrupted();
  let error: unknown;
  let figures: unknown;
  let ending: { exit?: unknown; signal?: unknown; open?: unknown };
  try {
    error = JSON.parse(Buffer.concat(errorLine).toString('utf8'));
    figures = JSON.parse(Buffer.concat(figuresLine).toString('utf8'));
    ending = JSON.parse(Buffer.concat(exitLine).toString('utf8')) as typeof ending;
  } catch {
    return corrupted();
  }
  if (!isPythonErrorOrNull(error) || !isStringArray(figures) || typeof ending !== 'object' || ending === null) return corrupted();
  // The value is parsed by parseValue, and only for a session's cell.
  const value = Buffer.concat(valueLine).toString('utf8');
  if (ending.open === true) return { error, resultJson, figures, value, open: true };
  if (Number.isInteger(ending.exit)) return { error, resultJson, figures, value, exitCode: ending.exit as number, signal: null };
  if (ending.signal === 'SIGINT') return { error, resultJson, figures, value, exitCode: null, signal: 'SIGINT' };
  return corrupted();
}

/** A cell's value line as the runner wrote it: null for none, or a value with its repr; anything else is dropped. */
export function parseValue(line: string | null | undefined): CellValue | null {
  if (line === null || line === undefined) return null;
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value !== 'object' || value === null || typeof (value as CellValue).repr !== 'string') return null;
    const { repr, json, html, png } = value as CellValue;
    return { repr, ...('json' in value ? { json } : {}), ...(typeof html === 'string' ? { html } : {}), ...(typeof png === 'string' ? { png } : {}) };
  } catch {
    return null;
  }
}

function countNewlines(chunk: Buffer): number {
  let count = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count++;
  return count;
}

/** The pieces of each line between newlines, and of what follows the last one; views, not copies. */
function splitLines(chunks: JsonPieces): Buffer[][] {
  const lines: Buffer[][] = [[]];
  for (const chunk of chunks) {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      lines.at(-1)!.push(chunk.subarray(start, newline));
      lines.push([]);
      start = newline + 1;
    }
    if (start < chunk.length) lines.at(-1)!.push(chunk.subarray(start));
  }
  return lines;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isPythonErrorOrNull(value: unknown): value is PythonError | null {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  const { type, message, traceback } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof message === 'string' && typeof traceback === 'string';
}

function corrupted(): Report {
  return problem(ERROR_TYPES.protocol, 'the result channel held something other than one report: the program wrote to it');
}

function problem(type: ErrorType, message: string): Report {
  return { error: { type, message, traceback: '' }, resultJson: NO_RESULT };
}
