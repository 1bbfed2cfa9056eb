import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { GVISOR_FLAGS } from '../contract/gvisor.js';
import { InvalidArgumentError, RuntimeMisconfiguredError, RuntimeNotFoundError } from '../contract/errors.js';
import { connectDocker } from '../pool/docker.js';
import { checkRuntime, parseGoFlags, type RuntimeInfo } from '../pool/runtime.js';

/** What `registerGvisor` takes; every path has the engine's usual default. */
export interface RegisterGvisorOptions {
  /** The runtime's name in the engine. @default 'runsc' */
  readonly name?: string;
  /** gVisor's binary. @default '/usr/bin/runsc' (Debian's package) */
  readonly runscPath?: string;
  /** The engine's configuration file. @default '/etc/docker/daemon.json' */
  readonly daemonJson?: string;
  /** The engine's pid file, to reload it. @default '/var/run/docker.pid' */
  readonly pidFile?: string;
  /** How long the reloaded engine may take to list the runtime. @default 10000 */
  readonly timeoutMs?: number;
  /** How to reach the engine (dockerode's options), as the Sandbox's option `docker`. @default {} */
  readonly docker?: Docker.DockerOptions;
}

/**
 * Registers gVisor as a runtime of the engine the way its README asks: adds (or completes)
 * the runtime in daemon.json, keeping every other setting and any other flags the runtime
 * has, then reloads the engine with SIGHUP, which keeps running containers, and waits until
 * the engine lists the runtime with warmbox's flags. Needs root. Returns the runtime as
 * checkRuntime sees it.
 */
export async function registerGvisor(options: RegisterGvisorOptions = {}): Promise<RuntimeInfo> {
  const name = options.name ?? 'runsc';
  const runscPath = options.runscPath ?? '/usr/bin/runsc';
  const daemonJson = options.daemonJson ?? '/etc/docker/daemon.json';
  const pidFile = options.pidFile ?? '/var/run/docker.pid';
  await stat(runscPath).catch(() => {
    throw new InvalidArgumentError('runscPath', `${runscPath} does not exist: install gVisor first (apt-get install runsc)`);
  });
  const text = await readFile(daemonJson, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '{}';
    throw error;
  });
  const merged = mergeGvisorRuntime(parseDaemonJson(text, daemonJson), name, runscPath);
  // Written whole under another name, then renamed: the engine never reads half a file.
  const mode = (await stat(daemonJson).catch(() => undefined))?.mode ?? 0o644;
  await writeFile(`${daemonJson}.warmbox`, `${JSON.stringify(merged, null, 2)}\n`, { mode: mode & 0o777 });
  await rename(`${daemonJson}.warmbox`, daemonJson);
  const docker = await connectDocker(options.docker ?? {});
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError('pidFile', `${pidFile} holds no pid`);
  process.kill(pid, 'SIGHUP');
  // The engine reloads in the background and says nothing when done: its runtime list is the
  // only event there is to wait for.
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await checkRuntime(docker, name);
    } catch (error) {
      const stale = error instanceof RuntimeNotFoundError || error instanceof RuntimeMisconfiguredError;
      if (!stale || performance.now() > deadline) throw error;
      await delay(100);
    }
  }
}

/**
 * daemon.json with the gVisor runtime `name` added or completed: its path set, its flags
 * kept, and `--host-uds` and `--network` set to what warmbox needs. Nothing else changes.
 */
export function mergeGvisorRuntime(config: Record<string, unknown>, name: string, runscPath: string): Record<string, unknown> {
  const runtimes = (config.runtimes ?? {}) as Record<string, { path?: string; runtimeArgs?: string[] }>;
  if (typeof runtimes !== 'object' || Array.isArray(runtimes)) throw new InvalidArgumentError('daemonJson', '"runtimes" is not an object');
  const existing = runtimes[name]?.runtimeArgs ?? [];
  const replaced = new Set(GVISOR_FLAGS.map((flag) => flag.replace(/^--/, '').split('=')[0]));
  // Each of the existing flags, as one argument, but for those warmbox sets.
  const kept: string[] = [];
  for (const [flag, value] of parseGoFlags(existing)) {
    if (!replaced.has(flag) && flag !== 'fsgofer-host-uds') kept.push(`--${flag}=${value}`);
  }
  return { ...config, runtimes: { ...runtimes, [name]: { ...runtimes[name], path: runscPath, runtimeArgs: [...GVISOR_FLAGS, ...kept] } } };
}

function parseDaemonJson(text: string, path: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    // Never overwritten: a file the engine cannot read either is the user's to mend.
    throw new InvalidArgumentError('daemonJson', `${path} is not JSON (${(error as Error).message}); mend it by hand first`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new InvalidArgumentError('daemonJson', `${path} does not hold a JSON object`);
  return config as Record<string, unknown>;
}
