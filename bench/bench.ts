/**
 * `npm run bench`: warmbox's figures, each next to its baseline measured in the same run and
 * the ratio of the two, as one markdown table on stdout and as JSON in bench/results/.
 * Absolute times drift from run to run on a shared machine; the ratios are what to compare.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { request } from 'undici';
import { agentImageTag, DATA_PACKAGES, defaultBaseImage, PACKAGE_ROOT } from '../pool/image.js';
import { DEFAULTS, Sandbox, type Job, type RunResult, type SandboxOptions } from '../pool/index.js';
import { RemoteSandbox } from '../remote/remote-sandbox.js';
import { gvisorRuntimes } from '../host/runsc-build.js';
import {
  BareContainers,
  coldContainerJob,
  execJob,
  HELLO_CODE,
  HELLO_DATA,
  hostPythonImports,
  spawnPython,
  spawnPythonEcho,
  spawnScript,
  startExecTarget,
  withWarmContainer,
} from './baselines.js';

interface Figure {
  readonly figure: string;
  readonly unit: string;
  readonly warmbox: number;
  readonly baseline: string;
  readonly baselineValue: number;
  /** warmbox / baseline. */
  readonly ratio: number;
  readonly target?: string;
  readonly met?: boolean;
}

const docker = new Docker();
const baseImage = defaultBaseImage();
const agentImage = agentImageTag();
if (agentImage === undefined) throw new Error('bench: run `npm run build:image` first');
const figures: Figure[] = [];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function sample(count: number, fn: () => Promise<unknown>, before?: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    await before?.();
    times.push(await timed(fn));
  }
  return times;
}

function record(figure: Omit<Figure, 'ratio' | 'met'>, check?: (ratio: number, value: number) => boolean): void {
  const ratio = figure.warmbox / figure.baselineValue;
  figures.push({ ...figure, ratio, ...(check ? { met: check(ratio, figure.warmbox) } : {}) });
  const last = figures.at(-1)!;
  console.error(`  ${last.figure}: ${last.warmbox.toFixed(2)} ${last.unit} vs ${last.baselineValue.toFixed(2)} (${last.baseline})`);
}

/** Resolves once the sandbox is quiet: every container warm, none starting. */
async function quiet(sandbox: Sandbox): Promise<void> {
  while (sandbox.stats().warm < sandbox.stats().target || sandbox.stats().starting > 0) {
    await once(sandbox, 'warm');
  }
}

async function latency(): Promise<void> {
  console.error('latency of one hello-world job');
  const spawnTimes = await sample(60, () => spawnPython(HELLO_DATA));
  const coldTimes = await sample(20, () => coldContainerJob(docker, baseImage));
  const target = await startExecTarget(docker, baseImage);
  const execTimes = await sample(60, () => execJob(target)).finally(() => target.remove({ force: true }));

  const sandbox = new Sandbox({ poolSize: 2 });
  await sandbox.initialize();
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  const warmTimes: number[] = [];
  const replacementTimes: number[] = [];
  for (let i = 0; i < 100; i++) {
    await quiet(sandbox);
    const start = performance.now();
    const result = await sandbox.run(job);
    const ended = performance.now();
    if (result.status !== 'ok') throw new Error(`bench job failed: ${JSON.stringify(result)}`);
    warmTimes.push(ended - start);
    await once(sandbox, 'warm');
    replacementTimes.push(performance.now() - ended);
  }

  const p50 = percentile(warmTimes, 50);
  const p99 = percentile(warmTimes, 99);
  record({ figure: 'warm run() p50', unit: 'ms', warmbox: p50, baseline: 'python3 spawned on the host, p50', baselineValue: percentile(spawnTimes, 50), target: '≤ 6 ms and < 1' }, (r, v) => v <= 6 && r < 1);
  record({ figure: 'warm run() p50', unit: 'ms', warmbox: p50, baseline: 'cold container per job (Engine API), p50', baselineValue: percentile(coldTimes, 50), target: '≤ 1/30' }, (r) => r <= 1 / 30);
  record({ figure: 'warm run() p50', unit: 'ms', warmbox: p50, baseline: 'docker exec into a running container, p50', baselineValue: percentile(execTimes, 50) });
  record({ figure: 'warm run() p99', unit: 'ms', warmbox: p99, baseline: 'python3 spawned on the host, p99', baselineValue: percentile(spawnTimes, 99), target: '≤ 12 ms' }, (_r, v) => v <= 12);
  record({ figure: 'warm run() p99', unit: 'ms', warmbox: p99, baseline: 'docker exec, p99', baselineValue: percentile(execTimes, 99) });

  const bare = new BareContainers(docker, baseImage);
  const bareReady = await sample(10, async () => bare.remove(await bare.start()));
  record({ figure: 'job end to replacement warm, p50', unit: 'ms', warmbox: percentile(replacementTimes, 50), baseline: 'bare node:http container start to ready (and remove), p50', baselineValue: percentile(bareReady, 50) });
  await bare.close();

  console.error('latency with data and output');
  for (const [label, bytes] of [['1 KB', 1_000], ['1 MB', 1_000_000], ['10 MB', 10_000_000]] as const) {
    const data = { s: 'd'.repeat(bytes) };
    const runs = await sample(10, () => sandbox.run({ code: 'result = data', data, timeoutMs: 60_000 }), () => quiet(sandbox));
    const spawns = await sample(10, () => spawnPython({ xs: [1], s: data.s }));
    const echoes = await sample(10, () => spawnPythonEcho(data));
    // Issue 27's target is for 10 MB alone.
    const targeted = label === '10 MB';
    record({ figure: `run() with ${label} of data in and out, p50`, unit: 'ms', warmbox: percentile(runs, 50), baseline: `python3 on the host, ${label} in on stdin, p50`, baselineValue: percentile(spawns, 50), ...(targeted ? { target: '≤ 1.5' } : {}) }, targeted ? (r) => r <= 1.5 : undefined);
    record({ figure: `run() with ${label} of data in and out, p50`, unit: 'ms', warmbox: percentile(runs, 50), baseline: `python3 on the host, ${label} in on stdin and back on stdout, p50`, baselineValue: percentile(echoes, 50) });
  }
  const output = await sample(10, () => sandbox.run({ code: 'import sys\nsys.stdout.write("o" * 1_000_000)' }), () => quiet(sandbox));
  record({ figure: 'run() printing 1 MB, p50', unit: 'ms', warmbox: percentile(output, 50), baseline: 'warm run() p50', baselineValue: p50 });
  await sandbox.close();

  // A job that sets its own memoryLimitMb and pidsLimit: the engine's update call before it runs.
  const limited = new Sandbox({ poolSize: 2, maxJobMemoryLimitMb: 512, maxJobPidsLimit: 128 });
  await limited.initialize();
  const own = await sample(40, () => limited.run({ ...job, memoryLimitMb: 256, pidsLimit: 100 }), () => quiet(limited));
  const plain = await sample(40, () => limited.run(job), () => quiet(limited));
  await limited.close();
  record({ figure: "run() with the job's own memoryLimitMb and pidsLimit, p50", unit: 'ms', warmbox: percentile(own, 50), baseline: 'warm run() p50, the same pool', baselineValue: percentile(plain, 50) });
}

/** Containers per second that create, start, ready and remove reach, `concurrency` at a time. */
async function turnoverCeiling(count: number, concurrency: number): Promise<number> {
  const bare = new BareContainers(docker, baseImage);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) await bare.remove(await bare.start());
    }),
  );
  const perSecond = count / ((performance.now() - start) / 1000);
  await bare.close();
  return perSecond;
}

async function throughput(): Promise<void> {
  console.error('sustained throughput');
  const ceilings = [await turnoverCeiling(60, DEFAULTS.startConcurrency), await turnoverCeiling(60, 4)];
  const ceiling = Math.max(...ceilings);
  for (const poolSize of [1, 2, 4, 8]) {
    const sandbox = new Sandbox({ poolSize, maxQueue: 1000, queueTimeoutMs: 600_000 });
    await sandbox.initialize();
    const jobs = 200;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: poolSize * 2 }, async () => {
        while (next++ < jobs) await sandbox.run({ code: HELLO_CODE, data: HELLO_DATA });
      }),
    );
    const perSecond = jobs / ((performance.now() - start) / 1000);
    await sandbox.close();
    record(
      { figure: `jobs per second, poolSize ${poolSize}, 200 jobs`, unit: '/s', warmbox: perSecond, baseline: 'turnover ceiling: bare container create+start+ready+remove', baselineValue: ceiling, ...(poolSize === 4 ? { target: '≥ 0.9' } : {}) },
      poolSize === 4 ? (r) => r >= 0.9 : undefined,
    );
  }
}

/** Seconds to the next arrival of a Poisson process of `rate` arrivals a second. */
function exponential(rate: number): number {
  return -Math.log(1 - Math.random()) / rate;
}

/** A pool's own ceiling: jobs per second with every container busy, 2 × poolSize jobs at a time. */
async function ownCeiling(sandbox: Sandbox, job: Job, jobs: number): Promise<number> {
  let next = 0;
  const took = await timed(() =>
    Promise.all(Array.from({ length: sandbox.options.poolSize * 2 }, async () => {
      while (next++ < jobs) await sandbox.run(job);
    })),
  );
  return jobs / (took / 1000);
}

/** Jobs arriving at random (Poisson) at `rate` a second; each one's time from arrival to result. */
async function poissonJobs(sandbox: Sandbox, job: Job, rate: number, jobs: number): Promise<number[]> {
  const times: number[] = [];
  const running: Promise<void>[] = [];
  for (let i = 0; i < jobs; i++) {
    const arrival = performance.now();
    running.push(
      sandbox.run(job).then((result) => {
        if (result.status !== 'ok') throw new Error(`bench job failed: ${JSON.stringify(result)}`);
        times.push(performance.now() - arrival);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, exponential(rate) * 1000));
  }
  await Promise.all(running);
  return times;
}

/**
 * Latency under load, and a pool that sizes itself. Hello-world jobs arrive at random
 * (Poisson) at half a fixed pool of 4's own ceiling, measured in this run, through a fixed
 * pool of 4, a fixed pool of 8 and one that sizes itself between 2 and 12; each beside its
 * own quiet figures (every container warm, nothing starting). A job's time is from its arrival
 * to its result, so time queued counts. Then how long the self-sizing pool takes to be back at
 * its minimum once nothing comes, and a burst of 20 jobs at once through each, every job
 * checked to have run once, in a container of its own. Last, the refill after a burst of
 * poolSize jobs against as many bare containers.
 */
async function load(): Promise<void> {
  console.error('latency under load (Poisson arrivals), and a pool that sizes itself');
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  const options = { maxQueue: 1000, queueTimeoutMs: 600_000 };
  const four = new Sandbox({ poolSize: 4, ...options });
  await four.initialize();
  const rate = 0.5 * (await ownCeiling(four, job, 60));
  await four.close();
  const pools: Array<[label: string, poolSize: SandboxOptions['poolSize'], targets: boolean]> = [
    ['fixed 4', 4, false],
    ['fixed 8', 8, false],
    ['sizing itself, 2 to 12', { min: 2, max: 12 }, true],
  ];
  for (const [label, poolSize, targets] of pools) {
    const sandbox = new Sandbox({ poolSize, ...options });
    await sandbox.initialize();
    const quietTimes = await sample(40, () => sandbox.run(job), () => quiet(sandbox));
    const [quietP50, quietP99] = [percentile(quietTimes, 50), percentile(quietTimes, 99)];
    await quiet(sandbox);
    const times = await poissonJobs(sandbox, job, rate, 150);
    const name = `under load, ${rate.toFixed(2)} jobs/s (50 % of a fixed pool of 4's own ceiling), ${label}`;
    record(
      { figure: `${name}: p50`, unit: 'ms', warmbox: percentile(times, 50), baseline: `quiet p50, ${label}`, baselineValue: quietP50, ...(targets ? { target: '≤ 1.2' } : {}) },
      targets ? (r) => r <= 1.2 : undefined,
    );
    record({ figure: `${name}: p90`, unit: 'ms', warmbox: percentile(times, 90), baseline: `quiet p50, ${label}`, baselineValue: quietP50 });
    record(
      { figure: `${name}: p99`, unit: 'ms', warmbox: percentile(times, 99), baseline: `quiet p99, ${label}`, baselineValue: quietP99, ...(targets ? { target: '≤ 3' } : {}) },
      targets ? (r) => r <= 3 : undefined,
    );
    if (typeof poolSize === 'object') {
      const most = sandbox.stats().target;
      const backAtMin = await timed(() => untilResized(sandbox, poolSize.min));
      record({ figure: `${label}: back at its minimum after the load (it held ${most}), idle containers`, unit: 'containers', warmbox: sandbox.stats().warm, baseline: `its minimum, reached ${(backAtMin / 1000).toFixed(1)} s after the last job (shrinkAfterMs ${sandbox.options.shrinkAfterMs})`, baselineValue: poolSize.min, target: '≤ 1 within a minute' }, (r) => r <= 1 && backAtMin <= 60_000);
    }
    await sandbox.close();
  }
  // A burst of 20 at once: the time to drain it, every job run once in a fresh container.
  const bursts: Array<[string, SandboxOptions['poolSize']]> = [['fixed 4', 4], ['fixed 12', 12], ['sizing itself, 2 to 12', { min: 2, max: 12 }]];
  const drained: Record<string, number> = {};
  for (const [label, poolSize] of bursts) {
    const sandbox = new Sandbox({ poolSize, ...options });
    await sandbox.initialize();
    const counted = { code: 'import os\npath = "/tmp/jobs"\nn = int(open(path).read()) + 1 if os.path.exists(path) else 1\nopen(path, "w").write(str(n))\nresult = [n, os.uname().nodename]' };
    let results: RunResult[] = [];
    drained[label] = await timed(async () => (results = await Promise.all(Array.from({ length: 20 }, () => sandbox.run(counted)))));
    const ranOnce = results.every((r) => r.status === 'ok' && (r.result as [number, string])[0] === 1) && new Set(results.map((r) => (r.result as [number, string])[1])).size === 20;
    if (!ranOnce) throw new Error(`${label}: a job of the burst was lost or ran twice`);
    await sandbox.close();
  }
  for (const fixed of ['fixed 4', 'fixed 12']) {
    record({ figure: 'a burst of 20 jobs at once, drained (each run once, in a fresh container), sizing itself 2 to 12', unit: 'ms', warmbox: drained['sizing itself, 2 to 12']!, baseline: fixed, baselineValue: drained[fixed]! });
  }
  // Refill after a burst: poolSize jobs at once, from their start to every container warm again.
  const bare = new BareContainers(docker, baseImage);
  for (const poolSize of [4, 8]) {
    const sandbox = new Sandbox({ poolSize, ...options });
    await sandbox.initialize();
    const refills = await sample(5, async () => {
      await Promise.all(Array.from({ length: poolSize }, () => sandbox.run(job)));
      await quiet(sandbox);
    }, () => quiet(sandbox));
    await sandbox.close();
    const bareRefills = await sample(3, async () => {
      const started: Array<Awaited<ReturnType<BareContainers['start']>>> = [];
      let next = 0;
      await Promise.all(Array.from({ length: DEFAULTS.startConcurrency }, async () => {
        while (next++ < poolSize) started.push(await bare.start());
      }));
      await Promise.all(started.map((c) => bare.remove(c)));
    });
    record({ figure: `refill after a burst of ${poolSize} jobs, p50`, unit: 'ms', warmbox: percentile(refills, 50), baseline: `${poolSize} bare containers started (and removed), ${DEFAULTS.startConcurrency} at a time`, baselineValue: percentile(bareRefills, 50) });
  }
  await bare.close();
}

/** Resolves once the pool's target is `size` and it holds no more than that, warm or starting. */
async function untilResized(sandbox: Sandbox, size: number): Promise<void> {
  const settled = () => sandbox.stats().target === size && sandbox.stats().warm + sandbox.stats().starting <= size;
  while (!settled()) await Promise.race([once(sandbox, 'resized'), once(sandbox, 'removed'), once(sandbox, 'warm')]);
}

async function startup(): Promise<void> {
  console.error('start-up, memory, filling a pool');
  const bare = new BareContainers(docker, baseImage);

  const warmboxReady: number[] = [];
  const bareReady: number[] = [];
  for (let i = 0; i < 10; i++) {
    warmboxReady.push(await withWarmContainer({}, async (_id, startMs) => startMs));
    let plain: Awaited<ReturnType<BareContainers['start']>> | undefined;
    bareReady.push(await timed(async () => (plain = await bare.start())));
    await bare.remove(plain!);
  }
  record({ figure: 'one container, start to ready, p50', unit: 'ms', warmbox: percentile(warmboxReady, 50), baseline: 'bare node:http container, p50', baselineValue: percentile(bareReady, 50), target: '≤ 1.15' }, (r) => r <= 1.15);

  // Memory and CPU time once start-up settled: the CPU time is what one start costs the
  // machine inside the container (the daemon's share is the same for both), and on a machine
  // whose cores are busy starting containers it bounds how fast a pool can turn over.
  const warmboxIdle: IdleContainer[] = [];
  const bareIdle: IdleContainer[] = [];
  for (let i = 0; i < 5; i++) {
    warmboxIdle.push(await withWarmContainer({}, (id) => idleContainer(id)));
    const plain = await bare.start();
    bareIdle.push(await idleContainer(plain.id));
    await bare.remove(plain);
  }
  const median = (of: IdleContainer[], key: keyof IdleContainer) => percentile(of.map((c) => c[key]), 50);
  record({ figure: 'idle memory of one warm container', unit: 'MiB', warmbox: median(warmboxIdle, 'memoryMiB'), baseline: 'bare node:http container', baselineValue: median(bareIdle, 'memoryMiB'), target: '≤ 14 MiB' }, (_r, v) => v <= 14);
  record({ figure: 'CPU time of one container, start to idle', unit: 'ms', warmbox: median(warmboxIdle, 'cpuMs'), baseline: 'bare node:http container', baselineValue: median(bareIdle, 'cpuMs') });

  const fills: number[] = [];
  const bareFills: number[] = [];
  for (let i = 0; i < 3; i++) {
    const sandbox = new Sandbox({ poolSize: 10 });
    fills.push(await timed(() => sandbox.initialize()));
    await sandbox.close();
    const started: Array<Awaited<ReturnType<BareContainers['start']>>> = [];
    let next = 0;
    bareFills.push(
      await timed(() =>
        Promise.all(
          Array.from({ length: DEFAULTS.startConcurrency }, async () => {
            while (next++ < 10) started.push(await bare.start());
          }),
        ),
      ),
    );
    await Promise.all(started.map((c) => bare.remove(c)));
  }
  record({ figure: 'fill a pool of 10 from nothing', unit: 'ms', warmbox: percentile(fills, 50), baseline: `10 bare containers, ${DEFAULTS.startConcurrency} at a time`, baselineValue: percentile(bareFills, 50), target: '≤ 1.3' }, (r) => r <= 1.3);
  await bare.close();
}

/**
 * `count` containers of a Sandbox with `options`, one at a time: the p50 of their start to
 * ready, and of the idle memory of the first three.
 */
async function startAndIdle(options: SandboxOptions, count: number): Promise<{ ready: number; memory: number }> {
  const ready: number[] = [];
  const memory: number[] = [];
  for (let i = 0; i < count; i++) {
    await withWarmContainer(options, async (id, startMs) => {
      ready.push(startMs);
      if (i < 3) memory.push((await idleContainer(id)).memoryMiB);
    });
  }
  return { ready: percentile(ready, 50), memory: percentile(memory, 50) };
}

interface IdleContainer {
  /** What `docker stats` shows: usage less page cache. */
  readonly memoryMiB: number;
  /** CPU time used by everything in the container so far. */
  readonly cpuMs: number;
}

/** A container's memory and CPU time once start-up garbage settled. */
async function idleContainer(id: string): Promise<IdleContainer> {
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const stats = (await docker.getContainer(id).stats({ stream: false })) as {
    memory_stats: { usage: number; stats: Record<string, number> };
    cpu_stats: { cpu_usage: { total_usage: number } };
  };
  const { usage, stats: detail } = stats.memory_stats;
  return {
    memoryMiB: (usage - (detail.total_inactive_file ?? detail.inactive_file ?? 0)) / 1024 / 1024,
    cpuMs: stats.cpu_stats.cpu_usage.total_usage / 1e6,
  };
}

const DATA_JOB_CODE = `
import pandas as pd, matplotlib.pyplot as plt
df = pd.read_csv('sales.csv')
df.groupby('region')['amount'].sum().plot.bar()
plt.savefig('out/chart.png')
result = {'rows': len(df)}`;
const SALES_CSV = `region,amount\n${Array.from({ length: 1000 }, (_, i) => `${['north', 'south', 'east', 'west'][i % 4]},${i}`).join('\n')}\n`;
const PRELOAD = ['numpy', 'pandas', 'matplotlib.pyplot'];

/** The data job (CSV in, pandas, a PNG out) with preload, against the same script spawned on the host; and what preload costs. */
async function data(): Promise<void> {
  const image = agentImageTag(defaultBaseImage(PACKAGE_ROOT, DATA_PACKAGES));
  if (image === undefined || !(await docker.getImage(image).inspect().then(() => true, () => false))) {
    console.error(`data: skipped, the data image is not built (npm run build:image:data)`);
    return;
  }
  if (!hostPythonImports(['pandas', 'matplotlib'])) {
    console.error(`data: skipped, python3 on the host has no pandas or matplotlib for the baseline (apt-get install python3-pandas python3-matplotlib)`);
    return;
  }
  console.error('a data job: CSV in, pandas, a chart out');
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-bench-data-'));
  await mkdir(join(dir, 'out'));
  await writeFile(join(dir, 'sales.csv'), SALES_CSV);
  await writeFile(join(dir, 'job.py'), DATA_JOB_CODE);
  const spawns = await sample(10, () => spawnScript(dir, 'job.py'));
  await rm(dir, { recursive: true, force: true });

  const sandbox = new Sandbox({ poolSize: 2, image, memoryLimitMb: 512, preload: PRELOAD });
  await sandbox.initialize();
  const job: Job = { code: DATA_JOB_CODE, files: { 'sales.csv': SALES_CSV, 'out/.keep': '' }, returnFiles: ['out/*.png'] };
  const runs = await sample(20, async () => {
    const r = await sandbox.run(job);
    if (r.status !== 'ok' || r.files.length !== 1) throw new Error(`bench data job failed: ${r.stderr}`);
  }, () => quiet(sandbox));
  await sandbox.close();
  record({ figure: 'data job with preload, p50', unit: 'ms', warmbox: percentile(runs, 50), baseline: 'the same script spawned as python3 on the host, p50', baselineValue: percentile(spawns, 50), target: '≤ 1/10' }, (r) => r <= 0.1);

  const without = await startAndIdle({ image, memoryLimitMb: 512, preload: [] }, 5);
  const withPreload = await startAndIdle({ image, memoryLimitMb: 512, preload: PRELOAD }, 5);
  record({ figure: 'data image, start to ready with preload, p50', unit: 'ms', warmbox: withPreload.ready, baseline: 'the same image without preload, p50', baselineValue: without.ready });
  record({ figure: 'data image, idle memory with preload', unit: 'MiB', warmbox: withPreload.memory, baseline: 'the same image without preload', baselineValue: without.memory });
}

/**
 * Sessions: a cell's run() in a held interpreter against a warm one-shot run() in the same
 * run (no container changes hands for a cell); and the data job as a session's second cell
 * against the same job one-shot with preload.
 */
async function sessions(): Promise<void> {
  console.error('sessions: cells against one-shot jobs');
  const sandbox = new Sandbox({ poolSize: 2 });
  await sandbox.initialize();
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  const oneShot = await sample(100, () => sandbox.run(job), () => quiet(sandbox));
  const session = await sandbox.session();
  // The same program as a cell: `data` is the cell's, `result` read back as the job's.
  for (let i = 0; i < 20; i++) await session.run(HELLO_CODE, { data: HELLO_DATA });
  await quiet(sandbox);
  const cells = await sample(200, async () => {
    const r = await session.run(HELLO_CODE, { data: HELLO_DATA });
    if (r.status !== 'ok') throw new Error(`bench cell failed: ${JSON.stringify(r)}`);
  });
  await session.close();
  await sandbox.close();
  record({ figure: 'session cell run() p50', unit: 'ms', warmbox: percentile(cells, 50), baseline: 'warm one-shot run() p50, the same run', baselineValue: percentile(oneShot, 50), target: '≤ 2 ms' }, (_r, v) => v <= 2);
  record({ figure: 'session cell run() p99', unit: 'ms', warmbox: percentile(cells, 99), baseline: 'warm one-shot run() p99, the same run', baselineValue: percentile(oneShot, 99) });

  const image = agentImageTag(defaultBaseImage(PACKAGE_ROOT, DATA_PACKAGES));
  if (image === undefined || !(await docker.getImage(image).inspect().then(() => true, () => false))) {
    console.error('sessions: the data job skipped, the data image is not built (npm run build:image:data)');
    return;
  }
  const data = new Sandbox({ poolSize: 2, image, memoryLimitMb: 512, preload: PRELOAD });
  await data.initialize();
  const files = { 'sales.csv': SALES_CSV, 'out/.keep': '' };
  const jobs = await sample(20, async () => {
    const r = await data.run({ code: DATA_JOB_CODE, files, returnFiles: ['out/*.png'] });
    if (r.status !== 'ok' || r.files.length !== 1) throw new Error(`bench data job failed: ${r.stderr}`);
  }, () => quiet(data));
  const question = 'result = df.groupby("region")["amount"].sum().to_dict()';
  const askedOneShot = await sample(20, () => data.run({ code: `import pandas as pd\ndf = pd.read_csv("sales.csv")\n${question}`, files }), () => quiet(data));
  const secondCells: number[] = [];
  const asked: number[] = [];
  for (let i = 0; i < 20; i++) {
    await quiet(data);
    await using s = await data.session({ files });
    await s.run('import pandas as pd, matplotlib.pyplot as plt');
    // The pool's replacement for the session's container starts as the session opens: the
    // conversation's later cells run once it is warm, as the one-shot jobs run on a quiet pool.
    await quiet(data);
    secondCells.push(await timed(async () => {
      const r = await s.run(DATA_JOB_CODE, { returnFiles: ['out/*.png'] });
      if (r.status !== 'ok' || r.files.length !== 1) throw new Error(`bench data cell failed: ${r.stderr}`);
    }));
    asked.push(await timed(() => s.run(question)));
  }
  await data.close();
  record({ figure: 'a question of the DataFrame an earlier cell loaded, p50', unit: 'ms', warmbox: percentile(asked, 50), baseline: 'the same question one-shot with preload, reading the CSV again, p50', baselineValue: percentile(askedOneShot, 50) });
  record({ figure: 'data job as a session\'s second cell, p50', unit: 'ms', warmbox: percentile(secondCells, 50), baseline: 'the same job one-shot with preload, p50', baselineValue: percentile(jobs, 50) });
}

/** Live output: how long a printed line takes to reach onStdout; the service next to the library. */
async function service(): Promise<void> {
  console.error('live output, and the service');
  const sandbox = new Sandbox({ poolSize: 2 });
  await sandbox.initialize();
  // The program stamps each line with the wall clock as it prints it; the host reads the same
  // clock (one kernel) when the chunk arrives.
  const delays: number[] = [];
  const code = 'import time\nfor _ in range(50):\n    print(time.time_ns(), flush=True)\n    time.sleep(0.01)';
  for (let i = 0; i < 4; i++) {
    await quiet(sandbox);
    let pending = '';
    await sandbox.run({ code }, {
      onStdout: (chunk) => {
        const nowNs = (performance.timeOrigin + performance.now()) * 1e6;
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) delays.push((nowNs - Number(line)) / 1e6);
      },
    });
  }
  record({ figure: 'live output, print to onStdout, p50', unit: 'ms', warmbox: percentile(delays, 50), baseline: 'target', baselineValue: 20, target: '≤ 20 ms' }, (_r, v) => v <= 20);
  record({ figure: 'live output, print to onStdout, p99', unit: 'ms', warmbox: percentile(delays, 99), baseline: 'target', baselineValue: 20, target: '≤ 20 ms' }, (_r, v) => v <= 20);
  await sandbox.close();

  // The service in a process of its own, as it is deployed: in this one, its replacement starts
  // would hold up the client's read of the answer, which no real client suffers.
  const { child, address } = await startServe(['--port', '0', '--pool', '2']);
  const serviceQuiet = async () => {
    for (;;) {
      const stats = (await (await request(`${address}/readyz`)).body.json()) as { warm: number; starting: number };
      if (stats.warm === 2 && stats.starting === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const direct = new Sandbox({ poolSize: 2 });
  await direct.initialize();
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  const body = JSON.stringify(job);
  const library: number[] = [];
  const http: number[] = [];
  for (let i = 0; i < 100; i++) {
    await quiet(direct);
    library.push(await timed(() => direct.run(job)));
    await serviceQuiet();
    http.push(
      await timed(async () => {
        const response = await request(`${address}/v1/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await response.body.json();
      }),
    );
  }
  await direct.close();
  child.kill('SIGTERM');
  await once(child, 'exit');
  const added = percentile(http, 50) - percentile(library, 50);
  record({ figure: 'POST /v1/run p50 (warmbox serve, its own process)', unit: 'ms', warmbox: percentile(http, 50), baseline: 'sandbox.run() in this process, p50', baselineValue: percentile(library, 50), target: '+ ≤ 1 ms' }, () => added <= 1);
  record({ figure: 'POST /v1/run p99', unit: 'ms', warmbox: percentile(http, 99), baseline: 'sandbox.run() in this process, p99', baselineValue: percentile(library, 99) });
}

/** Starts `warmbox serve` in a process of its own on `port`; resolves with it once it listens. */
async function startServe(args: string[]): Promise<{ child: ReturnType<typeof spawn>; address: string }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'cli', 'warmbox.js'), 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const address = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`warmbox serve exited with ${code}: ${stderr}`)));
  });
  return { child, address };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Three instances behind HAProxy (deploy/haproxy.cfg), against the library in process. */
async function scale(): Promise<void> {
  if (spawnSync('haproxy', ['-v']).status !== 0) {
    console.error('scale: skipped, haproxy is not installed');
    return;
  }
  console.error('three instances behind HAProxy');
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-bench-scale-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const lbPort = await freePort();
  const instances = await Promise.all(ports.map((port) => startServe(['--port', String(port), '--pool', '2', '--max-queue', '100'])));
  const haproxy = spawn('haproxy', ['-f', join(PACKAGE_ROOT, 'deploy', 'haproxy.cfg'), '-db'], {
    stdio: 'ignore',
    env: { ...process.env, WARMBOX_LB_BIND: `127.0.0.1:${lbPort}`, WARMBOX_LB_STATS: join(dir, 'haproxy.sock'), ...Object.fromEntries(ports.map((port, i) => [`WARMBOX_${i + 1}`, `127.0.0.1:${port}`])) },
  });
  const lb = new RemoteSandbox({ url: `http://127.0.0.1:${lbPort}` });
  const one = new RemoteSandbox({ url: instances[0]!.address });
  // HAProxy answers once it runs and a server passed its check.
  for (;;) {
    const ok = await lb.run({ code: 'result = 1' }).then(() => true, () => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  const local = new Sandbox({ poolSize: 2 });
  await local.initialize();
  const inProcess: number[] = [];
  const remote: number[] = [];
  // Jobs a second apart at most: every pool is warm again before the next, as in the quiet figure.
  for (let i = 0; i < 60; i++) {
    await quiet(local);
    inProcess.push(await timed(() => local.run(job)));
    await new Promise((resolve) => setTimeout(resolve, 400));
    remote.push(await timed(() => lb.run(job)));
  }
  await local.close();
  record({ figure: 'RemoteSandbox.run() via HAProxy, p50', unit: 'ms', warmbox: percentile(remote, 50), baseline: 'Sandbox.run() in process, p50', baselineValue: percentile(inProcess, 50) });
  record({ figure: 'RemoteSandbox.run() via HAProxy, p99', unit: 'ms', warmbox: percentile(remote, 99), baseline: 'Sandbox.run() in process, p99', baselineValue: percentile(inProcess, 99) });

  const rate = async (sandbox: RemoteSandbox, count: number, concurrency: number) => {
    let next = 0;
    const took = await timed(() =>
      Promise.all(Array.from({ length: concurrency }, async () => {
        while (next++ < count) await sandbox.run(job);
      })),
    );
    return count / (took / 1000);
  };
  const throughOne = await rate(one, 90, 4);
  const throughThree = await rate(lb, 90, 12);
  record({ figure: 'jobs per second through three instances (HAProxy)', unit: '/s', warmbox: throughThree, baseline: 'through one instance', baselineValue: throughOne });
  await Promise.all([lb.close(), one.close()]);
  haproxy.kill('SIGTERM');
  for (const { child } of instances) child.kill('SIGTERM');
  await Promise.all([once(haproxy, 'exit'), ...instances.map(({ child }) => once(child, 'exit'))]);
  await rm(dir, { recursive: true, force: true });
}

/**
 * gVisor against runc, in the same run, on the same image: warm run(), start to ready, idle
 * memory, jobs per second and filling a pool. `npm run bench -- gvisor`; needs runsc
 * registered (`warmbox doctor`).
 */
/**
 * Network: an HTTPS GET of 1 KB and of 1 MB from a server on loopback, through a job's egress
 * proxy (a CONNECT tunnel from inside the container), against the same client, Debian's
 * python3 on the host, connecting directly; each GET a new connection with its TLS handshake.
 * Then a warm job without network on a pool whose ceiling allows hosts, against one on a pool
 * without network, taking turns: what the option costs a job that does not use it.
 */
async function network(): Promise<void> {
  console.error('network: the egress proxy against a direct fetch');
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-bench-tls-'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tls.test', '-addext', 'subjectAltName=DNS:tls.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  if (made.status !== 0) throw new Error('bench: openssl could not make a test certificate');
  const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
  const bodies = { '/1k': Buffer.alloc(1024, 120), '/1m': Buffer.alloc(1024 * 1024, 120) };
  const server = createHttpsServer({ key, cert }, (request, response) => response.end(bodies[request.url as keyof typeof bodies] ?? ''));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const script = (mode: 'proxy' | 'direct', path: string, count: number) => `
import json, socket, ssl, time
ctx = ssl.create_default_context(cafile="ca.pem")
times = []
for _ in range(${count}):
    start = time.perf_counter()
    if "${mode}" == "proxy":
        s = socket.create_connection(("127.0.0.1", 3128))
        s.sendall(b"CONNECT tls.test:${port} HTTP/1.1\\r\\nHost: tls.test:${port}\\r\\n\\r\\n")
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += s.recv(4096)
    else:
        s = socket.create_connection(("127.0.0.1", ${port}))
    t = ctx.wrap_socket(s, server_hostname="tls.test")
    t.sendall(b"GET ${path} HTTP/1.1\\r\\nHost: tls.test\\r\\nConnection: close\\r\\n\\r\\n")
    while t.recv(65536):
        pass
    t.close()
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps(times))
`;
  const sandbox = new Sandbox({ poolSize: 2, network: { allow: [`tls.test:${port}`], resolve: { 'tls.test': '127.0.0.1' } } });
  await sandbox.initialize();
  try {
    for (const [path, label, count] of [['/1k', '1 KB', 40], ['/1m', '1 MB', 20]] as const) {
      const inside = await sandbox.run({ code: script('proxy', path, count), files: { 'ca.pem': cert }, network: { allow: [`tls.test:${port}`] }, timeoutMs: 120_000 });
      if (inside.status !== 'ok') throw new Error(`bench: the proxied fetch failed: ${inside.stderr}`);
      const proxied = JSON.parse(inside.stdout) as number[];
      await Promise.all([writeFile(join(dir, 'direct.py'), script('direct', path, count)), writeFile(join(dir, 'ca.pem'), cert)]);
      const direct = JSON.parse(await spawnScript(dir, 'direct.py')) as number[];
      const [p, d] = [percentile(proxied, 50), percentile(direct, 50)];
      if (path === '/1k') {
        record({ figure: `HTTPS GET of ${label} through the egress proxy, p50`, unit: 'ms', warmbox: p, baseline: `the same client on the host, direct, p50`, baselineValue: d, target: '≤ 2 ms more' }, (_ratio, value) => value - d <= 2);
      } else {
        record({ figure: `HTTPS GET of ${label} through the egress proxy, p50`, unit: 'ms', warmbox: p, baseline: `the same client on the host, direct, p50`, baselineValue: d, target: '≤ 1.3' }, (ratio) => ratio <= 1.3);
      }
    }
  } finally {
    await sandbox.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
  // A job without network pays nothing for the option: two pools, taking turns, 3 × 20 jobs each.
  const withCeiling = new Sandbox({ poolSize: 2, network: { allow: ['api.example.com'] } });
  const without = new Sandbox({ poolSize: 2 });
  await Promise.all([withCeiling.initialize(), without.initialize()]);
  const times = { with: [] as number[], without: [] as number[] };
  const job: Job = { code: HELLO_CODE, data: HELLO_DATA };
  for (let turn = 0; turn < 6; turn++) {
    const [name, pool] = turn % 2 === 0 ? (['with', withCeiling] as const) : (['without', without] as const);
    for (let i = 0; i < 20; i++) {
      await quiet(pool);
      times[name].push(await timed(() => pool.run(job)));
    }
  }
  await Promise.all([withCeiling.close(), without.close()]);
  record({ figure: 'warm run() p50, no network, on a pool whose ceiling allows hosts', unit: 'ms', warmbox: percentile(times.with, 50), baseline: 'warm run() p50 on a pool without network', baselineValue: percentile(times.without, 50), target: '≤ 1.1' }, (ratio) => ratio <= 1.1);
}

/**
 * gVisor against runc, in the same run, on the same image: every runsc the engine has
 * registered (Debian 12's 20221219 on ptrace, bookworm-backports' 20240729 on systrap, as
 * `warmbox doctor` names them), each beside runc: a system call's cost inside a job, warm
 * p50/p99, start to ready, idle memory, jobs per second on a pool of 4, filling a pool of 10,
 * and a job with 1 MiB of data in and out.
 */
async function gvisor(): Promise<void> {
  const gvisors = await gvisorRuntimes(((await docker.info()) as { Runtimes?: Record<string, { path?: string }> }).Runtimes ?? {});
  console.error(`gVisor (${gvisors.map(({ name }) => name).join(', ')}) against runc`);
  const per: Record<string, Record<string, number>> = {};
  for (const name of ['runc', ...gvisors.map((runtime) => runtime.name)]) {
    const figures: Record<string, number> = {};
    per[name] = figures;
    const { ready, memory } = await startAndIdle({ runtime: name }, 10);
    figures.ready = ready;
    figures.memory = memory;

    const sandbox = new Sandbox({ poolSize: 2, runtime: name });
    await sandbox.initialize();
    const run = async (job: Job) => {
      const r = await sandbox.run(job);
      if (r.status !== 'ok') throw new Error(`bench job failed under ${name}: ${JSON.stringify(r).slice(0, 500)}`);
      return r;
    };
    const warm = await sample(60, () => run({ code: HELLO_CODE, data: HELLO_DATA }), () => quiet(sandbox));
    figures.p50 = percentile(warm, 50);
    figures.p99 = percentile(warm, 99);
    // A system call's cost: the median of five rounds of 20,000 getppid() calls, in µs.
    await quiet(sandbox);
    const syscall = await run({ code: 'import os, time\nrounds = []\nfor _ in range(5):\n    t = time.perf_counter_ns()\n    for _ in range(20000): os.getppid()\n    rounds.append((time.perf_counter_ns() - t) / 20000 / 1000)\nresult = sorted(rounds)[2]' });
    figures.syscall = syscall.result as number;
    const megabyte = 'd'.repeat(1024 * 1024);
    const data = await sample(10, () => run({ code: 'result = data', data: megabyte }), () => quiet(sandbox));
    figures.data = percentile(data, 50);
    await sandbox.close();

    const pool = new Sandbox({ poolSize: 4, runtime: name, maxQueue: 1000, queueTimeoutMs: 600_000 });
    await pool.initialize();
    const jobs = 100;
    let next = 0;
    const seen = new Set<string>();
    const took = await timed(() =>
      Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next++ < jobs) {
            const r = await pool.run({ code: 'import os\nresult = os.uname().nodename' });
            if (r.status !== 'ok' || seen.has(r.result as string)) throw new Error(`a job was lost or ran in a used container under ${name}`);
            seen.add(r.result as string);
          }
        }),
      ),
    );
    await pool.close();
    figures.perSecond = jobs / (took / 1000);

    const fills: number[] = [];
    for (let i = 0; i < 2; i++) {
      const ten = new Sandbox({ poolSize: 10, runtime: name });
      fills.push(await timed(() => ten.initialize()));
      await ten.close();
    }
    figures.fill = percentile(fills, 50);
  }
  const runc = per.runc!;
  for (const { name, build } of gvisors) {
    const g = per[name]!;
    const label = `gVisor ${build.release ?? name} (${build.defaultPlatform ?? 'platform unknown'})`;
    record({ figure: `${label}: a system call (getppid) inside a job`, unit: 'µs', warmbox: g.syscall!, baseline: 'runc, the same', baselineValue: runc.syscall! });
    record({ figure: `${label}: warm run() p50`, unit: 'ms', warmbox: g.p50!, baseline: 'runc, warm run() p50', baselineValue: runc.p50!, target: '≤ 2' }, (r) => r <= 2);
    record({ figure: `${label}: warm run() p99`, unit: 'ms', warmbox: g.p99!, baseline: 'runc, warm run() p99', baselineValue: runc.p99! });
    record({ figure: `${label}: one container, start to ready, p50`, unit: 'ms', warmbox: g.ready!, baseline: 'runc, p50', baselineValue: runc.ready!, target: '≤ 2' }, (r) => r <= 2);
    record({ figure: `${label}: idle memory of one warm container`, unit: 'MiB', warmbox: g.memory!, baseline: 'runc', baselineValue: runc.memory! });
    record({ figure: `${label}: jobs per second, poolSize 4, 100 jobs`, unit: '/s', warmbox: g.perSecond!, baseline: 'runc, the same', baselineValue: runc.perSecond! });
    record({ figure: `${label}: fill a pool of 10 from nothing`, unit: 'ms', warmbox: g.fill!, baseline: 'runc, the same', baselineValue: runc.fill! });
    record({ figure: `${label}: 1 MiB of data in and out, p50`, unit: 'ms', warmbox: g.data!, baseline: 'runc, the same', baselineValue: runc.data! });
  }
}

function table(): string {
  const rows = figures.map((f) => {
    const value = (n: number) => (f.unit === 'ms' || f.unit === 'MiB' ? n.toFixed(1) : n.toFixed(2));
    const met = f.met === undefined ? '' : f.met ? 'yes' : 'no';
    return `| ${f.figure} | ${value(f.warmbox)} ${f.unit} | ${f.baseline} | ${value(f.baselineValue)} ${f.unit} | ${f.ratio.toFixed(3)} | ${f.target ?? ''} | ${met} |`;
  });
  return ['| Figure | warmbox | Baseline | Baseline value | Ratio | Target | Met |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

// `npm run bench -- startup latency` runs only those parts.
const parts = { latency, load, throughput, network, startup, data, sessions, service, scale, gvisor };
const chosen = process.argv.slice(2);
const startedAt = new Date();
for (const [name, part] of Object.entries(parts)) {
  if (chosen.length === 0 || chosen.includes(name)) await part();
}
const out = table();
console.log(`warmbox bench, ${startedAt.toISOString()}, ${cpus().length} cores, Node ${process.version}\n\n${out}`);
const dir = join(PACKAGE_ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const file = join(dir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify({ date: startedAt.toISOString(), cores: cpus().length, node: process.version, figures }, null, 2));
console.error(`figures written to ${file}`);
