import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/** A server of a test's that `listen` and `close` like node:http's, https's and net's. */
interface Listener {
  listen(port: number, host: string): unknown;
  close(): unknown;
  address(): unknown;
}

/**
 * Starts `server` on a free port of 127.0.0.1, the only address tests may use, and closes it
 * with `closeWith` (a test's teardown, or a file's after hook); resolves with the port.
 */
export async function onLoopback(server: Listener, closeWith: (close: () => void) => void): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server as unknown as NodeJS.EventEmitter, 'listening');
  closeWith(() => server.close());
  return (server.address() as AddressInfo).port;
}
