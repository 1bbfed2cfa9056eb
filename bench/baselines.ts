/**
 * What warmbox is measured against, each in the same run: python3 spawned on the host, a cold
 * container per job, `docker exec` into a running container, and a bare container whose only
 * process is a `node:http` server, under the same hardening as warmbox's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, watch } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { Sandbox, type SandboxOptions } from '../pool/index.js';
import { AGENT_IO_DIR, AGENT_SOCKET_NAME } from '../contract/layout.js';

/** The job every latency figure runs: JSON data in, a JSON result out. */
export const HELLO_CODE = 'result = {"total": sum(data["xs"])}';
export const HELLO_DATA = { xs: [1, 2, 3] };
// The same job as a stand-alone script: data on stdin, result on stdout.
const HELLO_SCRIPT = 'import json, sys\ndata = json.load(sys.stdin)\nprint(json.dumps({"total": sum(data["xs"])}))';

// Debian's python3 where there is one, as in the image; `python3` on PATH may be a shim
// (pyenv's is a shell script) that would make the baseline slow.
const HOST_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Whether python3 on the host imports these modules (Debian's python3-pandas, ...). */
export function hostPythonImports(modules: readonly string[]): boolean {
  return spawnSync(HOST_PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a script file with python3 on the host, in `cwd`; resolves with its stdout. */
export async function spawnScript(cwd: string, script: string): Promise<string> {
  const child = spawn(HOST_PYTHON, [script], { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: '/usr/bin:/bin', HOME: cwd, MPLBACKEND: 'Agg' } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`python3 ${script} exited with ${code}`);
  return out;
}

// Data in and back out, as `result = data` in a Sandbox: python3 loads it and dumps it.
const ECHO_SCRIPT = 'import json, sys\ndata = json.load(sys.stdin)\nsys.stdout.write(json.dumps(data))';

/**
 * Spawns python3 on the host with the data on stdin and reads it back from stdout, serialised
 * and parsed on this side as run() does: the same road a job's data and result take, less
 * the container.
 */
export async function spawnPythonEcho(data: unknown): Promise<unknown> {
  return JSON.parse(await pythonWithStdin(ECHO_SCRIPT, JSON.stringify(data)));
}

/** Spawns python3 on the host with the data on stdin; resolves with its stdout. */
export function spawnPython(data: unknown): Promise<string> {
  return pythonWithStdin(HELLO_SCRIPT, JSON.stringify(data));
}

/** Runs `python3 -c script` on the host with `stdin`; resolves with its stdout. */
async function pythonWithStdin(script: string, stdin: string): Promise<string> {
  const child = spawn(HOST_PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stdin.end(stdin);
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`python3 exited with ${code}`);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts a Sandbox of one container with `options`, hands its warm container's id and its
 * start time (start to ready, as the pool measured it) to `use`, then closes the sandbox.
 */
export async function withWarmContainer<T>(options: SandboxOptions, use: (id: string, startMs: number) => Promise<T>): Promise<T> {
  const sandbox = new Sandbox({ ...options, poolSize: 1 });
  const warm = once(sandbox, 'warm') as Promise<[string, number]>;
  try {
    await sandbox.initialize();
    const [id, startMs] = await warm;
    return await use(id, startMs);
  } finally {
    await sandbox.close();
  }
}

/**
 * warmbox's own container as the engine holds it: the hardening and limits of a default
 * Sandbox's warm container, read back with `docker inspect`, less its labels and its socket's
 * mount, for every baseline container to run under. Read, not rebuilt from the pool's
 * internals, which bench/ does not import: what is compared is what warmbox made.
 */
let template: Promise<Docker.ContainerCreateOptions> | undefined;
function warmboxTemplate(docker: Docker): Promise<Docker.ContainerCreateOptions> {
  template ??= withWarmContainer({}, async (id) => {
    const { Config, HostConfig } = await docker.getContainer(id).inspect();
    return { Env: Config.Env, HostConfig: { ...HostConfig, Binds: [] } } as Docker.ContainerCreateOptions;
  });
  return template;
}

/** A container of the base image under warmbox's hardening, running `entrypoint`, its io directory at `ioDir` if any. */
async function hardened(docker: Docker, baseImage: string, entrypoint: string[], ioDir?: string): Promise<Docker.ContainerCreateOptions> {
  const config = await warmboxTemplate(docker);
  return { ...config, Image: baseImage, Entrypoint: entrypoint, HostConfig: { ...config.HostConfig, Binds: ioDir === undefined ? [] : [`${ioDir}:${AGENT_IO_DIR}`] } };
}

/** Collects the stdout of an attached (multiplexed) stream as text; stderr passes through. */
function collectStdout(modem: Docker['modem'], stream: NodeJS.ReadableStream): () => string {
  let out = '';
  const stdout = { write: (chunk: Buffer) => ((out += chunk.toString()), true) } as unknown as NodeJS.WritableStream;
  modem.demuxStream(stream, stdout, process.stderr);
  return () => out;
}

/** One job in a container made for it through the Engine API: create, attach, start, wait, remove. */
export async function coldContainerJob(docker: Docker, baseImage: string): Promise<string> {
  const container = await docker.createContainer({
    ...(await hardened(docker, baseImage, ['python3', '-c', HELLO_SCRIPT])),
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
  });
  try {
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const output = collectStdout(docker.modem, stream);
    await container.start();
    stream.end(JSON.stringify(HELLO_DATA));
    await container.wait();
    return output();
  } finally {
    await container.remove({ force: true });
  }
}

/** One job through `docker exec` into a container that is already running. */
export async function execJob(container: Docker.Container): Promise<string> {
  const exec = await container.exec({
    Cmd: ['python3', '-c', HELLO_SCRIPT],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: true });
  const output = collectStdout(exec.modem, stream);
  stream.end(JSON.stringify(HELLO_DATA));
  await once(stream, 'end');
  return output();
}

/** A long-lived container of the base image for `docker exec`, under warmbox's hardening. */
export async function startExecTarget(docker: Docker, baseImage: string): Promise<Docker.Container> {
  const container = await docker.createContainer(await hardened(docker, baseImage, ['sleep', 'infinity']));
  await container.start();
  return container;
}

// The smallest agent there is: node:http on the same socket, published the same way.
const BARE_SERVER = `
const http = require('http'), fs = require('fs');
const path = ${JSON.stringify(`${AGENT_IO_DIR}/${AGENT_SOCKET_NAME}`)};
http.createServer((req, res) => res.end('{}')).listen(path + '.binding', () => {
  fs.chmodSync(path + '.binding', 0o666);
  fs.renameSync(path + '.binding', path);
});`;

/** Resolves when the server's socket appears in `ioDir` (seen through inotify, as the pool sees its agent's), or rejects after 30 s. */
function socketAppears(ioDir: string): Promise<void> {
  const socket = join(ioDir, AGENT_SOCKET_NAME);
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      watcher.close();
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    const watcher = watch(ioDir, () => existsSync(socket) && done());
    const timer = setTimeout(() => done(new Error(`bench: no socket in ${ioDir} within 30 s`)), 30_000);
  });
}

/** Bare containers, for the turnover ceiling, start-to-ready and memory baselines. */
export class BareContainers {
  // A promise, so that starts running at once share one directory.
  #root: Promise<string> | undefined;
  #next = 0;

  constructor(
    private readonly docker: Docker,
    private readonly baseImage: string,
  ) {}

  /** Creates and starts one, and resolves once its server's socket is there. */
  async start(): Promise<{ id: string; ioDir: string }> {
    this.#root ??= mkdtemp(join(tmpdir(), 'warmbox-bench-'));
    const ioDir = join(await this.#root, `b${this.#next++}`);
    await mkdir(ioDir);
    await chmod(ioDir, 0o777);
    const container = await this.docker.createContainer(await hardened(this.docker, this.baseImage, ['node', '-e', BARE_SERVER], ioDir));
    const listening = socketAppears(ioDir);
    await container.start();
    await listening;
    return { id: container.id, ioDir };
  }

  async remove({ id, ioDir }: { id: string; ioDir: string }): Promise<void> {
    await this.docker.getContainer(id).remove({ force: true, v: true });
    await rm(ioDir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (this.#root !== undefined) await rm(await this.#root, { recursive: true, force: true });
  }
}
