/**
 * What warmbox needs of gVisor's runsc, registered as an engine runtime: the agent's socket
 * must reach the host (`--host-uds=all`), and runsc must not set up a network of its own
 * (`--network=none`). host/ registers the runtime with these flags, pool/ checks a registered
 * one against them, and every message that names the fix quotes them from here.
 */
export const GVISOR_FLAG_VALUES = Object.freeze({ 'host-uds': 'all', network: 'none' } as const);

/** `--host-uds=all` and the like: the flag as it is written in runtimeArgs. */
export function gvisorFlag(name: keyof typeof GVISOR_FLAG_VALUES): string {
  return `--${name}=${GVISOR_FLAG_VALUES[name]}`;
}

/** The flags, as daemon.json's runtimeArgs list them. */
export const GVISOR_FLAGS: readonly string[] = Object.freeze(Object.keys(GVISOR_FLAG_VALUES).map((name) => gvisorFlag(name as keyof typeof GVISOR_FLAG_VALUES)));

/** The daemon.json entry that registers runsc as the runtime `name`, as it reads in a message. */
export function gvisorRuntimeEntry(name: string, path = '/usr/bin/runsc'): string {
  return `"runtimes": {"${name}": {"path": "${path}", "runtimeArgs": [${GVISOR_FLAGS.map((flag) => `"${flag}"`).join(', ')}]}}`;
}

/**
 * A runsc build's release, the date `runsc --version` names: `runsc version 0.0~20221219.0`
 * (Debian's packages) or `runsc version release-20240729.0` (gVisor's own) give 20221219 and
 * 20240729; undefined for a version that names none (a build from source).
 */
export function parseRunscRelease(versionText: string): number | undefined {
  const match = /(?:~|release-)(\d{8})\b/.exec(versionText);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The runsc release warmbox's suites pass on, which CI runs: Debian 12's own (ptrace). Debian's
 * bookworm-backports has 20240729 (systrap, a system call 27x cheaper), on which they do not
 * all pass yet (RUNSC_BUILD_DIFFERENCES, docs/gvisor.md).
 */
export const TESTED_RUNSC = 20221219;

/** What a program sees differently on the runsc releases from `since` to `through`, a later release fixed or is expected to fix. */
export interface RunscBuildDifference {
  /** The first release known to show it, where an earlier one differs otherwise. */
  readonly since?: number;
  /** The last release known to show it. */
  readonly through: number;
  readonly what: string;
  readonly cause: string;
}

/** Differences of particular runsc releases, beyond gVisor's by design (docs/gvisor.md); `warmbox doctor` names those of each registered runsc. */
export const RUNSC_BUILD_DIFFERENCES: readonly RunscBuildDifference[] = Object.freeze([
  {
    through: 20221219,
    what: "`ls -l` fails on every path (`ls -l /`: `cannot access '/': Invalid argument`, exit 2)",
    cause: "its statx(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) is refused (EINVAL); Python's os.stat, os.scandir and shutil.copytree work, and 20240729 lists",
  },
  {
    since: 20240729,
    through: 20240729,
    what: '`ls -l` prints `Bad file descriptor` for each symlink it lists (/bin, /lib, /lib64, /sbin) and `Permission denied` for a directory it cannot enter (/root), and still exits 0',
    cause: 'lgetxattr on a symlink fails with EBADF, google/gvisor#11049, fixed after this release',
  },
  {
    since: 20240729,
    through: 20240729,
    what: 'a program that passes `memoryLimitMb` ends with exit code 1 and no report (a `MemoryError` handler of its own never runs), and a child that does so exits 1 rather than dying of SIGKILL: the job ends `error`, `memoryExceeded: false`, where 20221219 ends it `memory`',
    cause: "its kernel ends the process at the container's limit itself, where 20221219 left that to the host's OOM killer, and its own emulated cgroup tree (/sys/fs/cgroup, new in this release) counts no OOM kill for the agent to read; the memory attacks assert 20221219's answer",
  },
]);

/** The build differences a runsc release shows (none known of a build whose release is unknown). */
export function runscBuildDifferences(release: number | undefined): readonly RunscBuildDifference[] {
  return RUNSC_BUILD_DIFFERENCES.filter((difference) => release !== undefined && release >= (difference.since ?? 0) && release <= difference.through);
}
