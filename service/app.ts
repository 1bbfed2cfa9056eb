/**
 * `warmbox serve`'s HTTP and WebSocket API around one Sandbox: a layer on top of pool/'s public
 * API and the wire, nothing more. Each group of routes is a Fastify plugin of its own; those
 * behind the token share an authenticated scope (the wire's ROUTES):
 *
 *   POST /v1/run       a job as JSON -> its RunResult as JSON             (token)   routes/run-job.ts
 *   GET  /v1/ws        WebSocket: one job per connection, live output and stdin (token)   routes/ws.ts
 *   POST /v1/sessions  a session: one container held for many cells      (token)   routes/sessions.ts
 *   POST /v1/sessions/:id/run, /interrupt; DELETE /v1/sessions/:id; GET /v1/sessions/:id/ws
 *   POST /mcp          the Model Context Protocol: the run_python tool        (token)   routes/mcp.ts
 *   GET  /metrics      Prometheus                                          (token)
 *   GET  /openapi.json the OpenAPI document, from the same schemas        (token)
 *   GET  /healthz      the process is up                                             routes/probes.ts
 *   GET  /readyz       a job would be taken now (a warm container, or room in the queue)
 *   GET  /, /page.js   the demo page and its script, with --demo only
 *
 * Every request, whatever its route, first passes the Host and Origin checks (request-guard.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Sandbox, type PythonSandbox, type RunResult } from '../pool/index.js';
import { MAX_REQUEST_BYTES } from '../contract/limits.js';
import { cellSchema, errorSchema, jobSchema, resultSchema, ROUTES, sessionOptionsSchema, sessionSchema } from '../wire/index.js';
import { bearerAuth } from './bearer-auth.js';
import { errorBody } from './error-body.js';
import { JobMemory } from './job-memory.js';
import { ServiceJobs } from './jobs.js';
import { ServiceMetrics } from './metrics.js';
import { requestGuard } from './request-guard.js';
import { mcpRoute } from './routes/mcp.js';
import { probes } from './routes/probes.js';
import { runRoute } from './routes/run-job.js';
import { sessionRoutes } from './routes/sessions.js';
import { ServiceSessions } from './sessions.js';
import { wsRoute } from './routes/ws.js';

export interface ServiceOptions {
  readonly sandbox: PythonSandbox;
  /**
   * Requests must carry `Authorization: Bearer <token>`, one of these if several; none: no
   * auth (loopback only). A session is bound to the token that opened it.
   */
  readonly token?: string | readonly string[];
  /** A pino logger, or fastify's logger options; false for none. @default true */
  readonly logger?: boolean | FastifyBaseLogger | Record<string, unknown>;
  /** A directory whose index.html and page.js are served at `/` (warmbox serve --demo: dist/web-ide). */
  readonly demoDir?: string;
  /** How long the result of a job with an `id` is remembered for a repeat. @default 600000 */
  readonly rememberMs?: number;
  /** How many such results are remembered at most. @default 1000 */
  readonly rememberJobs?: number;
  /**
   * Names the `Host` header may carry besides IP addresses, `localhost` and the listen
   * address's name: exact, or `*.example.com`; `'*'` for any (request-guard.ts).
   */
  readonly allowedHosts?: readonly string[];
  /** Origins whose pages may open a WebSocket or post to the service, besides its own page. */
  readonly allowedOrigins?: readonly string[];
  /** The address the service listens on, whose name `Host` may carry. @default '127.0.0.1' */
  readonly listenHost?: string;
}

/** A service, with `drain()` for a graceful stop. */
export interface Service {
  readonly app: FastifyInstance;
  readonly metrics: ServiceMetrics;
  /** Takes no new jobs, waits for those running, then closes the server. */
  drain(): Promise<void>;
}

export async function buildService(options: ServiceOptions): Promise<Service> {
  const app = Fastify({
    logger: options.logger ?? true,
    bodyLimit: MAX_REQUEST_BYTES,
    // A field of the wrong type is refused, not coerced ("1" for 1), as the library refuses it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  const metrics = new ServiceMetrics(options.sandbox);
  const jobs = new ServiceJobs(options.sandbox, metrics);
  const sessions = new ServiceSessions(options.sandbox, metrics);
  const memory = new JobMemory<RunResult>(options.rememberJobs ?? 1000, options.rememberMs ?? 600_000);

  await app.register(swagger, {
    openapi: {
      info: { title: 'warmbox', description: 'Runs untrusted Python in single-use Docker containers from a warm pool.', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: options.token === undefined ? [] : [{ bearer: [] }],
    },
    // Components named after the schemas' $id (Job, RunResult, Error), not def-0, def-1.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(websocket, { options: { maxPayload: MAX_REQUEST_BYTES } });
  app.addSchema(jobSchema);
  app.addSchema(resultSchema);
  app.addSchema(errorSchema);
  for (const schema of [sessionOptionsSchema, cellSchema, sessionSchema]) app.addSchema(schema);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = errorBody(error);
    if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(body.statusCode).send(body);
  });

  // Before anything else, the token included: a browser page of another site or a rebound
  // name reaches no route, the probes and the demo page included.
  app.addHook('onRequest', requestGuard({ listenHost: options.listenHost ?? '127.0.0.1', allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins }));

  // What needs the token lives in a scope of its own, whose hook checks it: the probes and
  // the demo page, registered at the root, stay open.
  await app.register(async (api) => {
    if (options.token !== undefined) api.addHook('onRequest', bearerAuth(typeof options.token === 'string' ? [options.token] : options.token));
    await api.register(runRoute, { jobs, memory });
    await api.register(wsRoute, { jobs });
    await api.register(sessionRoutes, { sessions });
    await api.register(mcpRoute, { jobs, sessions });
    api.get(ROUTES.metrics, { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
    api.get(ROUTES.openapi, { schema: { hide: true } }, async () => app.swagger());
  });
  await app.register(probes, { jobs, maxQueue: options.sandbox instanceof Sandbox ? options.sandbox.options.maxQueue : Number.POSITIVE_INFINITY });

  if (options.demoDir !== undefined) {
    // Read once: the page is its markup and one bundled script (examples/web-ide/bundle.mjs).
    const [page, script] = await Promise.all(['index.html', 'page.js'].map((name) => readFile(join(options.demoDir!, name), 'utf8')));
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
    app.get('/page.js', { schema: { hide: true } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script));
  }

  return {
    app,
    metrics,
    drain: async () => {
      sessions.drain();
      await jobs.drain();
      await app.close();
    },
  };
}
