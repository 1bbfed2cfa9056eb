import { existsSync } from 'node:fs';
import type Docker from 'dockerode';
import { connectDocker, imageExists } from '../pool/docker.js';
import { RuntimeMisconfiguredError } from '../contract/errors.js';
import { agentImageTag, DATA_PACKAGES, defaultBaseImage } from '../pool/image.js';
import { inspectRuntime, isGvisor, parseGoFlags, type EngineRuntimes, type RuntimeInfo } from '../pool/runtime.js';
import { TESTED_RUNSC, runscBuildDifferences } from '../contract/gvisor.js';
import { readRunscBuild } from './runsc-build.js';

/** One finding of `diagnose()`: what was checked, whether it is fine, and how to mend it. */
export interface Finding {
  /** What was checked: `engine`, `cgroup`, `image`, `image:data`, `runtime:NAME`. */
  readonly check: string;
  /** `ok`; `warn` for what works but could be better, or is optional; `fail` for what stops warmbox. */
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  /** What to do about it; empty when nothing is to be done. */
  readonly fix: string;
}

/** Where `diagnose()` looks; the defaults are the Sandbox's. */
export interface DiagnoseOptions {
  /** dockerode's connection options. @default {} */
  readonly docker?: Docker.DockerOptions;
  /** How long one call to the engine may take. @default 10000 */
  readonly dockerTimeoutMs?: number;
  /** Where gVisor's binary is looked for when no runtime is registered for it. @default '/usr/bin/runsc' */
  readonly runscPath?: string;
}

/**
 * Checks what warmbox needs of this machine, as `npx warmbox doctor` prints it: the engine,
 * its cgroup version, the images, and each runtime the engine has, gVisor's flags included.
 * Never throws for what it finds; every finding names its fix.
 */
export async function diagnose(options: DiagnoseOptions = {}): Promise<Finding[]> {
  let docker: Docker;
  try {
    docker = await connectDocker(options.docker ?? {}, options.dockerTimeoutMs ?? 10_000);
  } catch (error) {
    return [{ check: 'engine', status: 'fail', detail: (error as Error).message, fix: 'start the Docker engine: `sudo systemctl start docker`, or `sudo dockerd &`' }];
  }
  const info = (await docker.info()) as { ServerVersion?: string; CgroupVersion?: string; CgroupDriver?: string; Runtimes?: EngineRuntimes; DefaultRuntime?: string };
  const findings: Finding[] = [{ check: 'engine', status: 'ok', detail: `Docker ${info.ServerVersion ?? '(version unknown)'} answers`, fix: '' }];
  findings.push({
    check: 'cgroup',
    status: info.CgroupVersion === '1' || info.CgroupVersion === '2' ? 'ok' : 'warn',
    detail: `cgroup v${info.CgroupVersion ?? '?'} (${info.CgroupDriver ?? 'driver unknown'}): warmbox reads OOM kills and CPU time from v1 and v2 alike`,
    fix: info.CgroupVersion === '1' || info.CgroupVersion === '2' ? '' : 'the engine reports no cgroup version: memory outcomes may be told only from the engine',
  });
  findings.push(await imageFinding(docker, 'image', agentImageTag(), 'npx warmbox build-image'));
  findings.push(await imageFinding(docker, 'image:data', agentImageTag(defaultBaseImage(undefined, DATA_PACKAGES)), `npx warmbox build-image --packages ${DATA_PACKAGES.join(',')}`, true));
  const runtimes = info.Runtimes ?? {};
  for (const name of Object.keys(runtimes).sort()) findings.push(await runtimeFinding(name, runtimes));
  const runscPath = options.runscPath ?? '/usr/bin/runsc';
  if (!Object.entries(runtimes).some(([name, entry]) => isGvisor(name, entry?.path))) {
    findings.push({
      check: 'runtime:runsc',
      status: 'warn',
      detail: 'gVisor is not registered: programs share the host kernel (runc)',
      fix: existsSync(runscPath) ? 'sudo npx warmbox doctor --fix-runtime runsc' : 'sudo apt-get install runsc, then sudo npx warmbox doctor --fix-runtime runsc',
    });
  }
  return findings;
}

async function imageFinding(docker: Docker, check: string, tag: string | undefined, fix: string, optional = false): Promise<Finding> {
  if (tag === undefined) return { check, status: 'fail', detail: 'the agent is not bundled yet', fix: 'npm run build' };
  if (await imageExists(docker, tag)) return { check, status: 'ok', detail: `${tag} is built`, fix: '' };
  return { check, status: optional ? 'warn' : 'fail', detail: `${tag} is not built${optional ? ' (only for numpy, pandas and matplotlib)' : ''}`, fix };
}

/** The platforms warmbox is tested on; runsc's kvm hangs where KVM is nested. */
const TESTED_PLATFORMS = new Set(['ptrace', 'systrap']);

async function runtimeFinding(name: string, runtimes: EngineRuntimes): Promise<Finding> {
  const check = `runtime:${name}`;
  let runtime: RuntimeInfo;
  try {
    runtime = inspectRuntime(name, runtimes);
  } catch (error) {
    if (!(error instanceof RuntimeMisconfiguredError)) throw error;
    return { check, status: 'fail', detail: error.reason, fix: error.fix };
  }
  if (runtime.kind !== 'gvisor') return { check, status: 'ok', detail: `${runtime.path ?? name}: programs share the host kernel`, fix: '' };
  const build = runtime.path === undefined ? { release: undefined, defaultPlatform: undefined } : await readRunscBuild(runtime.path);
  const platform = parseGoFlags(runtime.args).get('platform') ?? build.defaultPlatform ?? 'ptrace';
  const differences = runscBuildDifferences(build.release).map((difference) => `${difference.what}: ${difference.cause}`);
  const detail =
    `gVisor ${build.release ?? '(release unknown)'} (${runtime.path}, ${runtime.args.join(' ')}): a second kernel, platform ${platform}; new Sandbox({ runtime: '${name}' })` +
    (differences.length === 0 ? '' : `; this build differs: ${differences.join('; ')}`);
  if (!TESTED_PLATFORMS.has(platform)) {
    return { check, status: 'warn', detail, fix: `platform ${platform} is not tested with warmbox (README, gVisor): remove --platform to use ${build.defaultPlatform ?? 'ptrace'}` };
  }
  if (build.release !== undefined && build.release !== TESTED_RUNSC) {
    const which = build.release < TESTED_RUNSC ? 'older' : 'newer';
    return { check, status: 'warn', detail: `${detail}; ${which} than ${TESTED_RUNSC}, the release warmbox's suites pass on`, fix: `it runs jobs; for what is tested, Debian 12's own runsc (${TESTED_RUNSC}): docs/gvisor.md says what differs` };
  }
  return { check, status: 'ok', detail, fix: '' };
}
