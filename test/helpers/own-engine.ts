/**
 * A Docker engine of a test's own: a second dockerd on its own socket, data and exec roots
 * (with its own containerd), so a test can stop and start it while every other test goes on
 * using the machine's engine. It runs in a network namespace of its own, with no bridge and
 * no iptables (warmbox's containers have no network): a dockerd without a bridge deletes any
 * interface called docker0 as it starts, which in the host's namespace is the machine
 * engine's.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';

export class OwnEngine {
  readonly socketPath: string;
  readonly docker: Docker;
  readonly #root: string;
  #process: ChildProcess | undefined;

  /** Its daemon.json, which a test may write before start() (`create({ config })`) and change after. */
  readonly configFile: string;
  /** Its pid file, as /var/run/docker.pid is the machine engine's. */
  readonly pidFile: string;

  private constructor(root: string) {
    this.#root = root;
    this.configFile = join(root, 'daemon.json');
    this.pidFile = join(root, 'docker.pid');
    this.socketPath = join(root, 'docker.sock');
    this.docker = new Docker({ socketPath: this.socketPath });
  }

  /**
   * Starts an engine and copies `images` into it from the machine's engine. Its daemon.json
   * is `config`, by default the machine engine's (its runtimes, gVisor's among them).
   */
  static async create(images: readonly string[], config: Record<string, unknown> = machineConfig()): Promise<OwnEngine> {
    // Short: containerd's socket path goes under it, and a socket path has at most 107 bytes.
    const engine = new OwnEngine(await mkdtemp('/tmp/own-engine-'));
    writeFileSync(engine.configFile, JSON.stringify(config));
    await engine.start();
    for (const image of images) {
      execFileSync('sh', ['-c', `docker save "$1" | docker -H "unix://$2" load -q`, 'sh', image, engine.socketPath], { stdio: 'ignore' });
    }
    return engine;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Starts dockerd and resolves once its API listens (it says so on stderr). */
  async start(): Promise<void> {
    const child = spawn(
      'unshare',
      [
        '--net',
        '--',
        'dockerd',
        `--host=unix://${this.socketPath}`,
        `--data-root=${join(this.#root, 'data')}`,
        `--exec-root=${join(this.#root, 'exec')}`,
        `--pidfile=${this.pidFile}`,
        `--config-file=${this.configFile}`,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        // Stopping it stops its containers; a warmbox agent that ignores SIGTERM is killed after this.
        '--shutdown-timeout=2',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.#process = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        log = (log + chunk).slice(-4000);
        if (log.includes('API listen on')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`dockerd exited (${code}) before it listened:\n${log}`)));
    });
    child.stderr!.resume();
  }

  /**
   * Stops dockerd as `systemctl stop docker` does (SIGTERM; it stops its containers first),
   * then ends whatever of this engine outlived it: a containerd shim, with the runtime's
   * processes under it, can survive a loaded engine's stop (seen with runsc, whose gofer then
   * kept a container's root file system busy for good after the engine was back). Each is
   * found by this engine's own containerd address in its command line, and ended by its pid.
   */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    for (const pid of this.#leftoverProcesses()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }

  /** The shims of this engine that are still alive, each with its children, children first. */
  #leftoverProcesses(): number[] {
    const address = join(this.#root, 'exec', 'containerd');
    const table = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map((name) => {
        try {
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          return { pid: Number(name), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8') };
        } catch {
          return undefined;
        }
      })
      .filter((entry) => entry !== undefined);
    const shims = table.filter((entry) => entry.cmdline.startsWith('/usr/bin/containerd-shim') && entry.cmdline.includes(address)).map((entry) => entry.pid);
    const children = (pid: number): number[] => table.filter((entry) => entry.ppid === pid).flatMap((entry) => [...children(entry.pid), entry.pid]);
    return shims.flatMap((pid) => [...children(pid), pid]);
  }

  /** Removes every container, stops the engine and deletes everything it kept. */
  async dispose(): Promise<void> {
    try {
      if (this.running) {
        for (const container of await this.docker.listContainers({ all: true })) {
          // A container the engine stopped with itself can be left "dead", its root
          // filesystem still mounted, and refuse removal: the unmount below takes it.
          await this.docker.getContainer(container.Id).remove({ force: true }).catch(() => {});
        }
      }
    } finally {
      await this.stop();
      for (const mountPoint of mountsUnder(this.#root)) execFileSync('umount', ['-l', mountPoint]);
      await rm(this.#root, { recursive: true, force: true });
    }
  }
}

function machineConfig(): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync('/etc/docker/daemon.json', 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Mount points at or under `root`, deepest first. */
function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === root || point.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
}
