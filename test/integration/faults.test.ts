/**
 * Faults: what a caller sees when the engine, a container or the caller itself misbehaves.
 * An engine that never answers is a fake (the real one cannot be made to do it); every other
 * fault here is done to the real engine and the real containers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DockerError, DockerUnavailableError, Sandbox } from '../../pool/index.js';

/** An engine socket whose server takes connections and answers only what `answers` says. */
async function silentEngine(t: ExecutionContext, answers: (url: string) => string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'silent-engine-'));
  const socketPath = join(dir, 'docker.sock');
  const held = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((request, response) => {
    const body = answers(request.url ?? '');
    if (body === undefined) {
      held.add(response);
      return;
    }
    response.setHeader('content-type', 'application/json');
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(async () => {
    for (const response of held) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return socketPath;
}

test('an engine that takes connections and never answers -> initialize() rejects with DockerUnavailableError after dockerTimeoutMs', async (t) => {
  const socketPath = await silentEngine(t, () => undefined);
  const sandbox = new Sandbox({ poolSize: 1, dockerTimeoutMs: 300, docker: { socketPath } });
  await t.throwsAsync(sandbox.initialize(), { instanceOf: DockerUnavailableError, message: /no answer within 300 ms/ });
  t.deepEqual(sandbox.stats(), { warm: 0, busy: 0, starting: 0, queued: 0 });
});

test('an engine that answers its ping and then nothing -> initialize() rejects with DockerError naming the call', async (t) => {
  const socketPath = await silentEngine(t, (url) => (url.endsWith('/_ping') ? 'OK' : undefined));
  const sandbox = new Sandbox({ poolSize: 1, dockerTimeoutMs: 300, image: 'warmbox-agent:any', docker: { socketPath } });
  const error = await t.throwsAsync(sandbox.initialize(), { instanceOf: DockerError });
  t.regex(error!.message, /did not answer in time to inspect the image warmbox-agent:any \(dockerTimeoutMs\)/);
});
