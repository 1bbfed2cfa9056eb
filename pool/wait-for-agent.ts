import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { AGENT_ERROR_FILE_NAME, AGENT_SOCKET_NAME } from '../contract/layout.js';
import { ContainerStartError } from '../contract/errors.js';

/**
 * Resolves when the agent's socket appears in `ioDir`: the agent listens only once its
 * Python runner is ready, so this is the readiness event itself, seen through inotify, not a
 * poll. Rejects when the container exits first or `timeoutMs` passes, with the agent's own
 * account of its failure where it left one.
 */
export function waitForAgent(ioDir: string, exited: Promise<unknown>, timeoutMs: number): Promise<string> {
  const socketPath = join(ioDir, AGENT_SOCKET_NAME);
  const errorPath = join(ioDir, AGENT_ERROR_FILE_NAME);
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearTimeout(timer);
      outcome();
    };
    const fail = (why: string) => {
      const account = existsSync(errorPath) ? `:\n${readFileSync(errorPath, 'utf8').trim()}` : '';
      settle(() => reject(new ContainerStartError(`the container's agent ${why}${account}`)));
    };
    const check = () => {
      if (existsSync(socketPath)) settle(() => resolve(socketPath));
      else if (existsSync(errorPath)) fail('failed to start');
    };
    const watcher = watch(ioDir, check);
    watcher.on('error', (error) => fail(`could not be watched for: ${error.message}`));
    const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms (startupTimeoutMs)`), timeoutMs);
    exited.then(
      (status) => fail(`exited before it was ready (${JSON.stringify(status)})`),
      (error: Error) => fail(`could not be awaited: ${error.message}`),
    );
    // The socket may have appeared before the watch began.
    check();
  });
}
