import type { ExecutionContext } from 'ava';
import Docker from 'dockerode';
import { LABELS, Sandbox, type SandboxOptions } from '../../pool/index.js';

export const docker = new Docker();

/** A started Sandbox that the test closes when it ends. */
export async function openSandbox(t: ExecutionContext, options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = new Sandbox({ poolSize: 1, ...options });
  t.teardown(() => sandbox.close());
  await sandbox.initialize();
  return sandbox;
}

/** The ids of the containers of one pool, by its label. */
export async function containersOf(sandbox: Sandbox): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${sandbox.id}`] } });
  return list.map((c) => c.Id);
}
