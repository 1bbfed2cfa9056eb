import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseRunscRelease } from '../contract/gvisor.js';
import { isGvisor, type EngineRuntimes } from '../pool/runtime.js';

const run = promisify(execFile);

/** What a runsc binary on this machine says of itself. */
export interface RunscBuild {
  /** Its release date (20221219), when its version names one. */
  readonly release: number | undefined;
  /** The platform it uses when runtimeArgs name none: ptrace before 2023, systrap after. */
  readonly defaultPlatform: string | undefined;
}

/**
 * Asks the runsc binary at `path` its version (`runsc --version`) and its default platform
 * (`runsc flags`, where `-platform` shows `(default "systrap")`); undefined fields where it
 * cannot be run or does not say.
 */
export async function readRunscBuild(path: string): Promise<RunscBuild> {
  const [version, flags] = await Promise.all([output(path, ['--version']), output(path, ['flags'])]);
  return {
    release: version === undefined ? undefined : parseRunscRelease(version),
    defaultPlatform: flags === undefined ? undefined : /-platform string\n[^\n]*\(default "(\w+)"\)/.exec(flags)?.[1],
  };
}

async function output(path: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(path, args, { timeout: 10_000 });
    return stdout + stderr;
  } catch {
    return undefined;
  }
}

/** The engine's gVisor runtimes (`docker info`'s Runtimes), each with what its binary says of itself. */
export async function gvisorRuntimes(runtimes: EngineRuntimes): Promise<Array<{ readonly name: string; readonly path: string; readonly build: RunscBuild }>> {
  const gvisors = Object.entries(runtimes).filter(([name, entry]) => isGvisor(name, entry?.path));
  return Promise.all(
    gvisors.map(async ([name, entry]) => {
      const path = entry?.path ?? '/usr/bin/runsc';
      return { name, path, build: await readRunscBuild(path) };
    }),
  );
}
