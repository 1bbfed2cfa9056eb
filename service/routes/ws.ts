/**
 * GET /v1/ws: one job per WebSocket connection, with its output live and its stdin as the
 * client sends it (the wire's ClientMessage and ServerMessage).
 */
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { decodeJob, encodeResult, ROUTES, type WireJob } from '../../wire/index.js';
import { errorBody, invalid } from '../error-body.js';
import type { ServiceJobs } from '../jobs.js';
import { serverSocket } from './server-socket.js';

export interface WsRouteOptions {
  readonly jobs: ServiceJobs;
}

export const wsRoute: FastifyPluginAsync<WsRouteOptions> = async (app, { jobs }) => {
  app.get(ROUTES.ws, { websocket: true, schema: { summary: 'WebSocket: one job per connection, with live output and stdin (see README)' } }, (socket, request) => {
    const { send, fail, onMessage } = serverSocket(socket);
    const stdin = new PassThrough();
    const controller = new AbortController();
    let started = false;
    socket.on('close', () => controller.abort(new Error('the client went away')));
    // Each field is checked below, and the job by the library.
    onMessage((message) => {
      if (message.type === 'run' && !started) {
        started = true;
        const wire = (message.job ?? {}) as WireJob;
        // Decoded inside the promise: a job the wire cannot decode is an error message, not a throw.
        const run = Promise.resolve().then(() =>
          jobs.run(request.log, wire.id ?? request.id, decodeJob(wire), (job) =>
            jobs.sandbox.run({ ...job, stdin, signal: controller.signal }, { onStdout: (data) => send({ type: 'stdout', data }), onStderr: (data) => send({ type: 'stderr', data }) }),
          ),
        );
        run.then(
          (result) => {
            send({ type: 'result', result: encodeResult(result) });
            socket.close(1000, 'done');
          },
          (error: Error) => fail(errorBody(error)),
        );
      } else if (message.type === 'stdin' && started && typeof message.data === 'string') {
        stdin.write(message.data);
      } else if (message.type === 'stdin_end' && started) {
        stdin.end();
      } else {
        fail(invalid(`unexpected message ${JSON.stringify(message.type)}: first {"type":"run","job":{...}}, then "stdin" and "stdin_end"`, 'type'));
      }
    });
  });
};
