import Fastify, { type FastifyInstance } from 'fastify';
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
}

/**
 * The agent's HTTP app: `GET /health` and `POST /run`. A container runs exactly one job, so
 * the first `POST /run` takes the runner and any later one gets 409. Listening is left to the
 * caller (server.ts), so tests drive the app with `inject()`.
 */
export function buildApp(runner: JobRunner, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    // Reject unknown fields rather than drop them: a field the agent ignores is a host bug.
    ajv: { customOptions: { removeAdditional: false } },
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
      return runner.run(request.body);
    },
  );

  return app;
}
