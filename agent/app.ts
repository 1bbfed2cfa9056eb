import { PassThrough, Transform, type Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  MAX_JOB_BYTES,
  errorBodySchema,
  runRequestSchema,
  runResponseSchema,
  type AgentErrorBody,
  type AgentRunRequest,
  type AgentRunResponse,
  type AgentStreamEvent,
} from './protocol.js';
import type { OutputListener } from './python-runner.js';

/** What runs the one job; PythonRunner in production. */
export interface JobRunner {
  run(job: AgentRunRequest, onOutput?: OutputListener): Promise<AgentRunResponse>;
  pipeStdin(source: Readable): Promise<void>;
}

export interface AppOptions {
  /** The largest request body: code, data and stdin together. */
  readonly bodyLimitBytes: number;
  /**
   * How the schemas become code. By default Fastify compiles them when the app gets ready;
   * the container's agent uses code compiled once, at build (see compile-schemas.ts).
   */
  readonly compilers?: NonNullable<FastifyServerOptions['schemaController']>['compilersFactory'];
}

/**
 * The agent's HTTP app: `GET /health`, `POST /run` and `POST /stdin`. A container runs exactly
 * one job, so the first `POST /run` takes the runner and any later one gets 409; the same for
 * `/stdin`, whose body, a stream, becomes the program's stdin as it arrives. Listening is left
 * to the caller (server.ts), so tests drive the app with `inject()`. The runner may still be
 * starting while the app is built.
 */
export function buildApp(runner: JobRunner | Promise<JobRunner>, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    // Reject unknown fields rather than drop them, and a wrong type rather than coerce it
    // (Fastify's default turns 5 into "5"): either is a host bug, not something to fix up.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    ...(options.compilers ? { schemaController: { compilersFactory: options.compilers } } : {}),
  });
  let taken = false;
  let stdinTaken = false;
  const conflict = (message: string): AgentErrorBody => ({ statusCode: 409, code: 'AGENT_ERR_JOB_TAKEN', error: 'Conflict', message });

  // Fastify reads every body as it comes and ignores Content-Encoding: a compressed body
  // would be taken for plain bytes. The host sends none, so any coding is refused.
  app.addHook('onRequest', async (request, reply) => {
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.toLowerCase() !== 'identity') {
      return reply.code(415).send({ statusCode: 415, code: 'AGENT_ERR_CONTENT_ENCODING', error: 'Unsupported Media Type', message: `content-encoding ${coding} is not supported` } satisfies AgentErrorBody);
    }
  });

  app.get('/health', async () => ({ status: taken ? 'used' : 'ready' }));

  // The body of /stdin is not parsed: the handler reads it as it comes.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.post<{ Body: Readable }>('/stdin', async (request, reply) => {
    // Fastify parses text/plain and JSON bodies too: those are not a stream to pipe.
    if (request.headers['content-type']?.split(';')[0]!.trim().toLowerCase() !== 'application/octet-stream') {
      return reply.code(415).send({ statusCode: 415, code: 'AGENT_ERR_CONTENT_TYPE', error: 'Unsupported Media Type', message: 'stdin is sent as application/octet-stream' } satisfies AgentErrorBody);
    }
    if (stdinTaken) return reply.code(409).send(conflict('the program\'s stdin is already being sent'));
    stdinTaken = true;
    await (await runner).pipeStdin(request.body.pipe(limitBytes(MAX_JOB_BYTES)));
    return { status: 'closed' };
  });

  app.post<{ Body: AgentRunRequest; Reply: AgentRunResponse | AgentErrorBody | Readable }>(
    '/run',
    { schema: { body: runRequestSchema, response: { 200: runResponseSchema, 409: errorBodySchema } } },
    async (request, reply) => {
      if (taken) return reply.code(409).send(conflict('this container has already taken its one job'));
      taken = true;
      const job = request.body;
      // Not kept on the request while the program runs: see PythonRunner.run.
      (request as { body: unknown }).body = undefined;
      if (!job.stream) return (await runner).run(job);
      // A line per event as it happens; the output is capped, so what waits here is bounded.
      const events = new PassThrough();
      const send = (event: AgentStreamEvent) => events.write(`${JSON.stringify(event)}\n`);
      (await runner).run(job, (stream, data) => send({ type: stream, data })).then(
        (result) => events.end(`${JSON.stringify({ type: 'result', result } satisfies AgentStreamEvent)}\n`),
        (error: Error) => events.destroy(error),
      );
      return reply.type('application/x-ndjson').send(events);
    },
  );

  return app;
}

/** Passes at most `max` bytes on, and fails the stream past them. */
function limitBytes(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(seen > max ? new Error(`stdin passed ${max} bytes`) : null, chunk);
    },
  });
}
