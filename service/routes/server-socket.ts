/**
 * The service's side of a WebSocket (/v1/ws and a session's): its messages out, as the wire's
 * ServerMessage, and each client message parsed, never trusted (each route checks its fields).
 * A message that is not JSON, or any error the route names, ends the socket with 1008.
 */
import type { WebSocket } from 'ws';
import type { ServerMessage, WireError } from '../../wire/index.js';
import { invalid } from '../error-body.js';

export function serverSocket(socket: WebSocket) {
  const send = (message: ServerMessage) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(message));
  const fail = (error: WireError) => {
    send({ type: 'error', error });
    socket.close(1008, error.code.slice(0, 100));
  };
  /** Hands each client message to `handle` once parsed; fails the socket for one that is not JSON. */
  const onMessage = (handle: (message: Record<string, unknown>) => void) =>
    socket.on('message', (raw) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(raw.toString()) as Record<string, unknown>;
      } catch {
        return fail(invalid('each message must be a JSON object', 'message'));
      }
      handle(message);
    });
  return { send, fail, onMessage };
}
