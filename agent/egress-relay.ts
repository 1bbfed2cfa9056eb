/**
 * The program's one way out, open only while a job that has network runs: a TCP port on the
 * container's loopback (EGRESS_PROXY_PORT), which the program's proxy variables name, each
 * connection relayed as it is to the host's egress proxy on a Unix socket in the io
 * directory. The program cannot open that socket itself (its directory is root's, 0700), and
 * the container has no other route: the host's proxy decides every connection.
 */
import { createServer, connect, type Socket } from 'node:net';
import { EGRESS_PROXY_PORT } from '../contract/layout.js';

/** Listens until the returned function is called, which cuts every relayed connection. */
export async function openEgressRelay(proxySocketPath: string): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  // No Nagle on the program's side: a TLS handshake is small writes that would wait for ACKs.
  const server = createServer({ noDelay: true }, (client) => {
    const upstream = connect(proxySocketPath);
    track(client);
    track(upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(EGRESS_PROXY_PORT, '127.0.0.1', () => resolve());
  });
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}
