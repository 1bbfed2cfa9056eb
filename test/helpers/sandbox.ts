import type { ExecutionContext } from 'ava';
import Docker from 'dockerode';
import { Sandbox as PoolSandbox, type SandboxOptions } from '../../pool/index.js';
import { LABELS } from '../../contract/labels.js';
import { gvisorRuntimes } from '../../host/runsc-build.js';
import type { EngineRuntimes } from '../../pool/runtime.js';
import { requireRuntime } from './set-up.js';

export const docker = new Docker();

/**
 * The runtime the integration suites run on: runc, and gVisor's runsc in CI's second pass
 * (`WARMBOX_TEST_RUNTIME=runsc`), where every suite runs again unchanged.
 */
export const TEST_RUNTIME = process.env.WARMBOX_TEST_RUNTIME ?? 'runc';
/** Whether the suites run under gVisor, for the assertions whose documented answer differs there. */
export const GVISOR = TEST_RUNTIME.startsWith('runsc');
if (GVISOR) await requireRuntime(TEST_RUNTIME, docker);
/** Under gVisor, the release of the runsc the engine runs for TEST_RUNTIME (20221219), for assertions a release changes. */
export const RUNSC_RELEASE = GVISOR ? await runscReleaseOf(TEST_RUNTIME) : undefined;

async function runscReleaseOf(name: string): Promise<number | undefined> {
  const runtimes = ((await docker.info()) as { Runtimes?: EngineRuntimes }).Runtimes ?? {};
  return (await gvisorRuntimes(runtimes)).find((runtime) => runtime.name === name)?.build.release;
}

/** warmbox's Sandbox on the suites' runtime: what the integration tests make. */
export class Sandbox extends PoolSandbox {
  constructor(options: number | SandboxOptions = {}) {
    super({ runtime: TEST_RUNTIME, ...(typeof options === 'number' ? { poolSize: options } : options) });
  }
}

/**
 * A started Sandbox that the test closes when it ends. Under gVisor, whose containers take
 * some four times as long to start, a job may wait for one longer on a loaded machine.
 */
export async function openSandbox(t: ExecutionContext, options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = new Sandbox({ poolSize: 1, ...(GVISOR ? { queueTimeoutMs: 120_000 } : {}), ...options });
  t.teardown(() => sandbox.close());
  await sandbox.initialize();
  return sandbox;
}

/** The ids of the containers of one pool, by its label. */
export async function containersOf(sandbox: PoolSandbox): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${sandbox.id}`] } });
  return list.map((c) => c.Id);
}
