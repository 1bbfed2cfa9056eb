/**
 * Sessions over HTTP: open one, run its cells, interrupt, close; and a WebSocket per session
 * for cells with live output. Every route finds the session by its id among those the
 * request's token opened.
 */
import type { FastifyPluginAsync } from 'fastify';
import { decodeSessionOptions, encodeResult, ROUTES, type SessionClientMessage, type WireCell, type WireSessionOptions } from '../../wire/index.js';
import type { PythonSession } from '../../pool/index.js';
import { requester } from '../bearer-auth.js';
import { errorBody, invalid } from '../error-body.js';
import type { ServiceSessions } from '../sessions.js';
import { serverSocket } from './server-socket.js';
import { SESSION_ID_LENGTH } from '../../contract/limits.js';

export interface SessionRoutesOptions {
  readonly sessions: ServiceSessions;
}

/** The answer's header that names a session just opened, for a balancer to route its requests by. */
export const SESSION_HEADER = 'warmbox-session';

const errors = { '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } } as const;
const params = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: SESSION_ID_LENGTH } } } as const;

export const sessionRoutes: FastifyPluginAsync<SessionRoutesOptions> = async (app, { sessions }) => {
  app.post<{ Body: WireSessionOptions | undefined }>(
    ROUTES.sessions,
    { schema: { summary: 'Opens a session: one container held for many cells', body: { $ref: 'SessionOptions#' }, response: { 200: { $ref: 'Session#' }, ...errors } } },
    async (request, reply) => {
      const id = await sessions.open(request.log, requester(request), decodeSessionOptions(request.body ?? {}));
      // For a load balancer: deploy/haproxy.cfg sends the session's later requests where it opened.
      reply.header(SESSION_HEADER, id);
      return { id };
    },
  );

  app.post<{ Params: { id: string }; Body: WireCell }>(
    ROUTES.sessionRun,
    { schema: { summary: "Runs a cell in the session's interpreter", params, body: { $ref: 'Cell#' }, response: { 200: { $ref: 'RunResult#' }, ...errors } } },
    async (request) => encodeResult(await sessions.run(request.log, requester(request), request.params.id, request.body)),
  );

  app.post<{ Params: { id: string } }>(
    ROUTES.sessionInterrupt,
    { schema: { summary: 'Raises KeyboardInterrupt in the running cell', params, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await sessions.find(requester(request), request.params.id).interrupt();
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    ROUTES.session,
    { schema: { summary: 'Closes the session and removes its container', params, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      await sessions.close(requester(request), request.params.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    ROUTES.sessionWs,
    { websocket: true, schema: { summary: "WebSocket: the session's cells with live output, and interrupts (see README)", params } },
    (socket, request) => {
      const owner = requester(request);
      const { send, fail, onMessage } = serverSocket(socket);
      let session: PythonSession;
      try {
        session = sessions.find(owner, request.params.id);
      } catch (error) {
        return fail(errorBody(error as Error));
      }
      onMessage((parsed) => {
        const message = parsed as SessionClientMessage;
        if (message.type === 'interrupt') return void session.interrupt();
        if (message.type !== 'run' || typeof message.cell !== 'object' || message.cell === null) {
          return fail(invalid(`unexpected message ${JSON.stringify((message as { type?: unknown }).type)}: {"type":"run","cell":{...}} or {"type":"interrupt"}`, 'type'));
        }
        // Cells run in the order they came, as the session runs them; each answers with its output, then its result.
        sessions
          .run(request.log, owner, request.params.id, message.cell, { onStdout: (data) => send({ type: 'stdout', data }), onStderr: (data) => send({ type: 'stderr', data }) })
          .then(
            (result) => send({ type: 'result', result: encodeResult(result) }),
            (error: Error) => send({ type: 'error', error: errorBody(error) }),
          );
      });
    },
  );
};
