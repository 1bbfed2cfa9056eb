/**
 * `npm run soak [-- --jobs N --pool N]`: jobs at the machine's full rate through one Sandbox,
 * a fixed mix of every way a program ends (ok, exception, infinite loop, memory bomb, fork
 * until refused, output flood, large data, files in and out). Checks, and exits non-zero
 * unless all hold:
 * - every job's status (and where it has one, its result) is the expected one;
 * - no job is lost or run twice: each job's token comes back once, from a container no other
 *   job ran in;
 * - after close(): no container of the pool, nothing in its socket root, no more open file
 *   descriptors than before it started;
 * - for runs of 1,000 jobs or more: the process's memory after the last job within 5 % of
 *   after the first tenth (heap after a full GC, and RSS).
 * Prints a summary with jobs per second over time, and writes it as JSON to bench/results/.
 * test/soak/soak.test.ts runs a short version in CI.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { PACKAGE_ROOT } from '../pool/image.js';
import { Sandbox, type Job, type RunResult } from '../pool/index.js';
import { LABELS } from '../contract/labels.js';

export interface SoakOptions {
  readonly jobs: number;
  readonly poolSize: number;
  /** Called after every tenth of the jobs, with the figures so far. */
  readonly progress?: (sample: SoakSample) => void;
}

export interface SoakSample {
  readonly jobsDone: number;
  readonly elapsedS: number;
  /** Jobs per second over this tenth of the run. */
  readonly jobsPerS: number;
  readonly rssMiB: number;
  /** After a full GC where the process allows one (`--expose-gc`), else as it is. */
  readonly heapUsedMiB: number;
  readonly openFds: number;
}

export interface SoakReport {
  readonly jobs: number;
  readonly poolSize: number;
  readonly elapsedS: number;
  readonly jobsPerS: number;
  readonly byKind: Record<string, number>;
  /** Jobs whose status or result was not the expected one, with what came back. */
  readonly wrong: readonly string[];
  /** Jobs that never settled, containers that ran two jobs. */
  readonly lostOrTwice: readonly string[];
  readonly samples: readonly SoakSample[];
  readonly left: { readonly containers: number; readonly socketRootEntries: number; readonly extraFds: number };
  /** Memory after the last job over after the first tenth; undefined below 1,000 jobs. */
  readonly memoryGrowth: { readonly heap: number; readonly rss: number } | undefined;
  readonly passed: boolean;
}

interface Kind {
  readonly name: string;
  job(token: string): Job;
  /** What is wrong with the result, or undefined. */
  check(r: RunResult, token: string): string | undefined;
}

const LARGE = 'x'.repeat(1024 * 1024);
// The token and the container's host name, printed last by jobs that end normally.
const REPORT = 'import os\nresult = [data["token"] if isinstance(data, dict) else data, os.uname().nodename]';

/** The mix, one job of each kind in turn. */
const KINDS: readonly Kind[] = [
  {
    name: 'ok',
    job: (token) => ({ code: `total = sum(range(10))\n${REPORT}`, data: { token } }),
    check: (r) => (r.status === 'ok' ? undefined : `status ${r.status}`),
  },
  {
    name: 'exception',
    job: () => ({ code: 'raise ValueError("soak")' }),
    check: (r) => (r.status === 'error' && r.error?.type === 'ValueError' ? undefined : `status ${r.status}, error ${r.error?.type}`),
  },
  {
    name: 'infinite loop',
    job: () => ({ code: 'while True: pass', timeoutMs: 300 }),
    check: (r) => (r.status === 'timeout' ? undefined : `status ${r.status}`),
  },
  {
    name: 'memory bomb',
    job: () => ({ code: 'x = bytearray(512 << 20)' }),
    check: (r) => (r.status === 'memory' ? undefined : `status ${r.status}`),
  },
  {
    name: 'fork until refused',
    job: (token) => ({
      code: `import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\nprint(n)\n${REPORT}`,
      data: { token },
      timeoutMs: 10_000,
    }),
    // 64 tasks for the program: the interpreter and 63 children.
    check: (r) => (r.status === 'ok' && r.stdout === '63\n' ? undefined : `status ${r.status}, stdout ${JSON.stringify(r.stdout.slice(0, 20))}`),
  },
  {
    name: 'output flood',
    job: () => ({ code: 'while True: print("x" * 1000)' }),
    check: (r) => (r.status === 'output' && r.outputTruncated ? undefined : `status ${r.status}`),
  },
  {
    name: 'large data',
    job: (token) => ({ code: `assert len(data["big"]) == ${LARGE.length}\n${REPORT}`, data: { token, big: LARGE } }),
    check: (r) => (r.status === 'ok' ? undefined : `status ${r.status}`),
  },
  {
    name: 'files in and out',
    job: (token) => ({
      code: `from pathlib import Path\nPath("out/answer.txt").parent.mkdir()\nPath("out/answer.txt").write_text(Path("in.txt").read_text().upper())\n${REPORT}`,
      data: { token },
      files: { 'in.txt': `hello ${token}` },
      returnFiles: ['out/*.txt'],
    }),
    check: (r, token) =>
      r.status === 'ok' && r.files.length === 1 && r.files[0]!.data.toString() === `HELLO ${token.toUpperCase()}` ? undefined : `status ${r.status}, files ${r.files.length}`,
  },
];

// libuv opens these once per process and keeps them: its one inotify instance (fs.watch)
// and the spare descriptor it holds for running out of them (/dev/null).
const PROCESS_SINGLETONS = new Set(['anon_inode:inotify', '/dev/null']);

/** The process's open file descriptors, but libuv's per-process singletons. */
async function openFds(): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
    // undefined: the directory read above, closed by now.
    if (target !== undefined && !PROCESS_SINGLETONS.has(target)) count++;
  }
  return count;
}

/**
 * Open descriptors once Node's global HTTP agent has let its idle keep-alive connections to
 * the engine go (5 s idle): read until the count stops falling to `floor`, for at most 10 s.
 */
async function settledFds(floor: number): Promise<number> {
  const deadline = performance.now() + 10_000;
  let count = await openFds();
  while (count > floor && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    count = await openFds();
  }
  return count;
}

function memory(): { rssMiB: number; heapUsedMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMiB: rss / 2 ** 20, heapUsedMiB: heapUsed / 2 ** 20 };
}

/** Runs the soak and returns its report; throws only if the sandbox cannot start. */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  const socketRoot = await mkdtemp(join(tmpdir(), 'warmbox-soak-'));
  const fdsBefore = await openFds();
  const sandbox = new Sandbox({ poolSize: options.poolSize, socketRoot, queueTimeoutMs: 600_000 });
  const wrong: string[] = [];
  // Which container ran each job goes to a file, not to memory: the memory check is of the
  // sandbox, not of the soak's own bookkeeping (10,000 entries are about 1 MiB of heap).
  const ledger = createWriteStream(join(socketRoot, '..', `${basename(socketRoot)}.hosts`));
  const byKind: Record<string, number> = {};
  const samples: SoakSample[] = [];
  let done = 0;
  const start = performance.now();
  try {
    await sandbox.initialize();
    // Enough in flight that the queue is never empty: the machine's full rate.
    const inFlight = options.poolSize * 2;
    let next = 0;
    let lastSample = { at: start, done: 0 };
    const tenth = Math.max(1, Math.floor(options.jobs / 10));
    const worker = async () => {
      while (next < options.jobs) {
        const index = next++;
        const kind = KINDS[index % KINDS.length]!;
        const token = randomUUID();
        let r: RunResult;
        try {
          r = await sandbox.run(kind.job(token));
        } catch (error) {
          wrong.push(`job ${index} (${kind.name}): rejected ${(error as Error).message}`);
          continue;
        }
        byKind[kind.name] = (byKind[kind.name] ?? 0) + 1;
        const problem = kind.check(r, token);
        if (problem !== undefined) wrong.push(`job ${index} (${kind.name}): ${problem}`);
        if (Array.isArray(r.result)) {
          const [seen, host] = r.result as [string, string];
          // Its own token, once: the job was neither lost nor answered with another's result.
          if (seen !== token) wrong.push(`job ${index} (${kind.name}): the token of another job came back`);
          ledger.write(`${host}\n`);
        }
        if (++done % tenth === 0) {
          const now = performance.now();
          const sample: SoakSample = {
            jobsDone: done,
            elapsedS: (now - start) / 1000,
            jobsPerS: ((done - lastSample.done) * 1000) / (now - lastSample.at),
            ...memory(),
            openFds: await openFds(),
          };
          lastSample = { at: now, done };
          samples.push(sample);
          options.progress?.(sample);
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    await sandbox.close();
  }
  const elapsedS = (performance.now() - start) / 1000;
  const containers = await new Docker().listContainers({ all: true, filters: { label: [`${LABELS.pool}=${sandbox.id}`] } });
  const socketRootEntries = (await readdir(socketRoot)).length;
  await rm(socketRoot, { recursive: true, force: true });
  await new Promise((resolve) => ledger.end(resolve));
  const hosts = new Map<string, number>();
  for (const host of (await readFile(ledger.path, 'utf8')).split('\n').filter(Boolean)) hosts.set(host, (hosts.get(host) ?? 0) + 1);
  await rm(ledger.path);
  const lostOrTwice = [
    ...(done === options.jobs ? [] : [`${options.jobs - done} jobs without a result`]),
    ...[...hosts].filter(([, count]) => count !== 1).map(([host, count]) => `container ${host} ran ${count} jobs`),
  ];
  const left = { containers: containers.length, socketRootEntries, extraFds: Math.max(0, (await settledFds(fdsBefore)) - fdsBefore) };
  const first = samples[0];
  const last = samples.at(-1);
  const memoryGrowth =
    options.jobs >= 1000 && first !== undefined && last !== undefined
      ? { heap: last.heapUsedMiB / first.heapUsedMiB - 1, rss: last.rssMiB / first.rssMiB - 1 }
      : undefined;
  const passed =
    wrong.length === 0 &&
    lostOrTwice.length === 0 &&
    done === options.jobs &&
    left.containers === 0 &&
    left.socketRootEntries === 0 &&
    left.extraFds === 0 &&
    (memoryGrowth === undefined || (memoryGrowth.heap <= 0.05 && memoryGrowth.rss <= 0.05));
  return { jobs: options.jobs, poolSize: options.poolSize, elapsedS, jobsPerS: done / elapsedS, byKind, wrong, lostOrTwice, samples, left, memoryGrowth, passed };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '10000' }, pool: { type: 'string', default: '4' } } });
  const jobs = Number(values.jobs);
  const poolSize = Number(values.pool);
  console.log(`soak: ${jobs} jobs through a pool of ${poolSize}, ${KINDS.length} kinds in turn: ${KINDS.map((k) => k.name).join(', ')}`);
  console.log('| jobs done | elapsed | jobs/s (this tenth) | RSS | heap after GC | open fds |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const report = await soak({
    jobs,
    poolSize,
    progress: (s) =>
      console.log(`| ${s.jobsDone} | ${s.elapsedS.toFixed(0)} s | ${s.jobsPerS.toFixed(2)} | ${s.rssMiB.toFixed(1)} MiB | ${s.heapUsedMiB.toFixed(1)} MiB | ${s.openFds} |`),
  });
  console.log(`\n${report.jobs} jobs in ${report.elapsedS.toFixed(0)} s (${report.jobsPerS.toFixed(2)} /s)`);
  console.log(`wrong status or result: ${report.wrong.length}${report.wrong.length ? `\n  ${report.wrong.slice(0, 20).join('\n  ')}` : ''}`);
  console.log(`lost or run twice: ${report.lostOrTwice.length}${report.lostOrTwice.length ? `\n  ${report.lostOrTwice.slice(0, 20).join('\n  ')}` : ''}`);
  console.log(`left after close(): ${report.left.containers} containers, ${report.left.socketRootEntries} pool directories, ${report.left.extraFds} extra fds`);
  if (report.memoryGrowth) {
    console.log(`memory, last over first tenth: heap ${(report.memoryGrowth.heap * 100).toFixed(1)} %, RSS ${(report.memoryGrowth.rss * 100).toFixed(1)} %`);
  }
  console.log(report.passed ? 'soak: passed' : 'soak: FAILED');
  const dir = join(PACKAGE_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(`report written to ${file}`);
  process.exitCode = report.passed ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
