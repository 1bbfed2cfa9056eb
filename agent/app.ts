import { PassThrough, Transform, type Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  MAX_JOB_BYTES,
  RUN_CONTENT_TYPE,
  encodeRunAnswer,
  errorBodySchema,
  runRequestSchema,
  type AgentErrorBody,
  type AgentRunAnswer,
  type AgentRunRequest,
  type AgentStreamEvent,
} from './protocol.js';
import type { OutputListener } from './python-runner.js';

/** What runs the one job; PythonRunner in production. */
export interface JobRunner {
  run(job: AgentRunRequest, data: Buffer, onOutput?: OutputListener): Promise<AgentRunAnswer>;
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
  const unsupported = (code: string, message: string): AgentErrorBody => ({ statusCode: 415, code, error: 'Unsupported Media Type', message });

  // Fastify reads every body as it comes and ignores Content-Encoding: a compressed body
  // would be taken for plain bytes. The host sends none, so any coding is refused.
  app.addHook('onRequest', async (request, reply) => {
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.toLowerCase() !== 'identity') {
      return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_ENCODING', `content-encoding ${coding} is not supported`));
    }
  });

  app.get('/health', async () => ({ status: taken ? 'used' : 'ready' }));

  // The body of /stdin is not parsed: the handler reads it as it comes.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.post<{ Body: Readable }>('/stdin', async (request, reply) => {
    // Fastify parses text/plain and JSON bodies too: those are not a stream to pipe.
    if (request.headers['content-type']?.split(';')[0]!.trim().toLowerCase() !== 'application/octet-stream') {
      return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_TYPE', 'stdin is sent as application/octet-stream'));
    }
    if (stdinTaken) return reply.code(409).send(conflict('the program\'s stdin is already being sent'));
    stdinTaken = true;
    await (await runner).pipeStdin(request.body.pipe(limitBytes(MAX_JOB_BYTES)));
    return { status: 'closed' };
  });

  // A job is two lines (see RUN_CONTENT_TYPE): its fields, validated by the route's schema
  // as the body, and its data, kept aside as bytes for the runner.
  const jobData = new WeakMap<object, Buffer>();
  app.addContentTypeParser(RUN_CONTENT_TYPE, { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    const newline = bytes.indexOf(10);
    if (newline === -1 || newline === bytes.length - 1) {
      done(badRequest('a job is two lines: its fields as JSON, then its data as JSON'), undefined);
      return;
    }
    let fields: unknown;
    try {
      fields = JSON.parse(bytes.toString('utf8', 0, newline));
    } catch (error) {
      done(badRequest(`the job's first line is not JSON: ${(error as Error).message}`), undefined);
      return;
    }
    jobData.set(request, bytes.subarray(newline + 1));
    done(null, fields);
  });

  app.post<{ Body: AgentRunRequest; Reply: AgentErrorBody | Buffer | Readable }>(
    '/run',
    { schema: { body: runRequestSchema, response: { 409: errorBodySchema } } },
    async (request, reply) => {
      if (!jobData.has(request)) {
        return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_TYPE', `a job is sent as ${RUN_CONTENT_TYPE}`));
      }
      const jobRunner = await runner;
      if (taken) return reply.code(409).send(conflict('this container has already taken its one job'));
      taken = true;
      const job = request.body;
      // Neither the fields nor the data stay on the request, and no variable here holds the
      // data while the program runs: see PythonRunner.run.
      (request as { body: unknown }).body = undefined;
      const take = () => {
        const data = jobData.get(request)!;
        jobData.delete(request);
        return data;
      };
      reply.type(RUN_CONTENT_TYPE);
      if (!job.stream) return encodeRunAnswer(await jobRunner.run(job, take()));
      // A line per event as it happens; the output is capped, so what waits here is bounded.
      const events = new PassThrough();
      const send = (event: AgentStreamEvent) => events.write(`${JSON.stringify(event)}\n`);
      jobRunner.run(job, take(), (stream, text) => send({ type: stream, data: text })).then(
        (answer) => events.end(encodeRunAnswer(answer)),
        (error: Error) => events.destroy(error),
      );
      return reply.send(events);
    },
  );

  return app;
}

function badRequest(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400, code: 'AGENT_ERR_BAD_JOB' });
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
