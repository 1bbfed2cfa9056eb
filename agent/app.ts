import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  errorBodySchema,
  runRequestSchema,
  runResponseSchema,
  type AgentErrorBody,
  type AgentRunRequest,
  type AgentRunResponse,
} from './protocol.js';

/** What runs the one job; PythonRunner in production. */
export interface JobRunner {
  run(job: AgentRunRequest): Promise<AgentRunResponse>;
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
 * The agent's HTTP app: `GET /health` and `POST /run`. A container runs exactly one job, so
 * the first `POST /run` takes the runner and any later one gets 409. Listening is left to the
 * caller (server.ts), so tests drive the app with `inject()`. The runner may still be starting
 * while the app is built.
 */
export function buildApp(runner: JobRunner | Promise<JobRunner>, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    // Reject unknown fields rather than drop them: a field the agent ignores is a host bug.
    ajv: { customOptions: { removeAdditional: false } },
    ...(options.compilers ? { schemaController: { compilersFactory: options.compilers } } : {}),
  });
  let taken = false;

  app.get('/health', async () => ({ status: taken ? 'used' : 'ready' }));

  app.post<{ Body: AgentRunRequest; Reply: AgentRunResponse | AgentErrorBody }>(
    '/run',
    { schema: { body: runRequestSchema, response: { 200: runResponseSchema, 409: errorBodySchema } } },
    async (request, reply) => {
      if (taken) {
        return reply.code(409).send({
          statusCode: 409,
          code: 'AGENT_ERR_JOB_TAKEN',
          error: 'Conflict',
          message: 'this container has already taken its one job',
        });
      }
      taken = true;
      const job = request.body;
      // Not kept on the request while the program runs: see PythonRunner.run.
      (request as { body: unknown }).body = undefined;
      return (await runner).run(job);
    },
  );

  return app;
}
