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
