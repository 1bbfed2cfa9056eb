/**
 * `warmbox serve`'s HTTP and WebSocket API around one Sandbox: a layer on top of pool/'s public
 * API, nothing more. Routes, those behind the token in a Fastify scope of their own:
 *
 *   POST /v1/run       a job as JSON -> its RunResult as JSON             (token)
 *   GET  /v1/ws        WebSocket: one job per connection, live output and stdin (token)
 *   GET  /metrics      Prometheus                                          (token)
 *   GET  /openapi.json the OpenAPI document, from the same schemas        (token)
 *   GET  /healthz      the process is up
 *   GET  /readyz       a job would be taken now (a warm container, or room in the queue)
 *   GET  /             the demo page, with --demo only
 */
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { MAX_REQUEST_BYTES } from '../agent/protocol.js';
import { ERROR_CODES, httpStatusOf, InvalidArgumentError, PoolClosedError, WarmboxError, type Job, type RunResult, type Sandbox, type ServiceErrorCode } from '../pool/index.js';
import { bearerAuth } from './bearer-auth.js';
import { JobMemory } from './job-memory.js';
import { ServiceMetrics } from './metrics.js';
import { errorSchema, jobSchema, resultSchema, type WireJob } from './schemas.js';

export interface ServiceOptions {
  readonly sandbox: Sandbox;
  /** Requests must carry `Authorization: Bearer <token>`; none: no auth (loopback only). */
  readonly token?: string;
  /** A pino logger, or fastify's logger options; false for none. @default true */
  readonly logger?: boolean | FastifyBaseLogger | Record<string, unknown>;
  /** An HTML file served at `/` (warmbox serve --demo). */
  readonly demoPage?: string;
  /** How long the result of a job with an `id` is remembered for a repeat. @default 600000 */
  readonly rememberMs?: number;
  /** How many such results are remembered at most. @default 1000 */
  readonly rememberJobs?: number;
}

/** The library's errors as HTTP statuses: every code has one, or this does not compile. */
export { TOKEN_PROTOCOL_PREFIX } from './bearer-auth.js';

/** A service, with `drain()` for a graceful stop. */
export interface Service {
  readonly app: FastifyInstance;
  readonly metrics: ServiceMetrics;
  /** Takes no new jobs, waits for those running, then closes the server. */
  drain(): Promise<void>;
}

export async function buildService(options: ServiceOptions): Promise<Service> {
  const { sandbox } = options;
  const app = Fastify({
    logger: options.logger ?? true,
    bodyLimit: MAX_REQUEST_BYTES,
    // A field of the wrong type is refused, not coerced ("1" for 1), as the library refuses it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  const metrics = new ServiceMetrics(sandbox);
  const running = new Set<Promise<unknown>>();
  const memory = new JobMemory<RunResult>(options.rememberJobs ?? 1000, options.rememberMs ?? 600_000);
  let draining = false;

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

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = errorBody(error);
    if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(body.statusCode).send(body);
  });

  /** Runs one job for the API, counted, logged, and waited for by drain(). */
  const runJob = async (request: FastifyRequest, wire: WireJob, run: (job: Job) => Promise<RunResult>): Promise<RunResult> => {
    if (draining) throw new PoolClosedError();
    const startedAt = performance.now();
    const job = toJob(wire);
    const pending = run(job);
    running.add(pending);
    try {
      const result = await pending;
      const seconds = (performance.now() - startedAt) / 1000;
      metrics.job(result.status, seconds);
      request.log.info({ jobId: wire.id ?? request.id, status: result.status, durationMs: Math.round(seconds * 1000) }, 'job');
      return result;
    } finally {
      running.delete(pending);
    }
  };

  // What needs the token lives in a scope of its own, whose hook checks it: the probes and
  // the demo page, registered at the root, stay open.
  await app.register(async (api) => {
    if (options.token !== undefined) api.addHook('onRequest', bearerAuth(options.token));

    api.post<{ Body: WireJob }>(
      '/v1/run',
      {
        schema: {
          summary: 'Runs one job and answers with its result',
          body: { $ref: 'Job#' },
          response: { 200: { $ref: 'RunResult#' }, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
        },
      },
      async (request, reply) => {
        // A client that goes away before its answer takes its job with it.
        const controller = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) controller.abort(new Error('the client went away'));
        });
        const start = () => runJob(request, request.body, (job) => sandbox.run({ ...job, signal: controller.signal }));
        if (request.body.id === undefined) return toWire(await start());
        // A repeat of a job already sent is answered with the first run's result, and says so.
        const { value, replayed } = memory.once(request.body.id, start);
        const result = await value;
        if (replayed) {
          reply.header('warmbox-replayed', 'true');
          request.log.info({ jobId: request.body.id, status: result.status }, 'job replayed');
        }
        return { ...toWire(result), ...(replayed ? { replayed: true } : {}) };
      },
    );

    api.get('/v1/ws', { websocket: true, schema: { summary: 'WebSocket: one job per connection, with live output and stdin (see README)' } }, (socket, request) => {
      const send = (message: unknown) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(message));
      const stdin = new PassThrough();
      const controller = new AbortController();
      let started = false;
      socket.on('close', () => controller.abort(new Error('the client went away')));
      socket.on('message', (raw) => {
        let message: { type?: unknown; job?: unknown; data?: unknown };
        try {
          message = JSON.parse(raw.toString()) as typeof message;
        } catch {
          return fail({ statusCode: 400, code: InvalidArgumentError.code, error: 'Bad Request', message: 'each message must be a JSON object', field: 'message' });
        }
        if (message.type === 'run' && !started) {
          started = true;
          const wire = (message.job ?? {}) as WireJob;
          runJob(request, wire, (job) =>
            sandbox.run({ ...job, stdin, signal: controller.signal }, { onStdout: (data) => send({ type: 'stdout', data }), onStderr: (data) => send({ type: 'stderr', data }) }),
          ).then(
            (result) => {
              send({ type: 'result', result: toWire(result) });
              socket.close(1000, 'done');
            },
            (error: Error) => fail(errorBody(error)),
          );
        } else if (message.type === 'stdin' && started && typeof message.data === 'string') {
          stdin.write(message.data);
        } else if (message.type === 'stdin_end' && started) {
          stdin.end();
        } else {
          fail({ statusCode: 400, code: InvalidArgumentError.code, error: 'Bad Request', message: `unexpected message ${JSON.stringify(message.type)}: first {"type":"run","job":{...}}, then "stdin" and "stdin_end"`, field: 'type' });
        }
      });
      function fail(body: ReturnType<typeof errorBody>) {
        send({ type: 'error', error: body });
        socket.close(1008, body.code.slice(0, 100));
      }
    });

    api.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );

    api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });

  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'up' }));

  app.get('/readyz', { schema: { summary: 'A job would be taken now: a warm container, or room in the queue; 503 otherwise' } }, async (_request, reply) => {
    const stats = sandbox.stats();
    const ready = !draining && (stats.warm > 0 || stats.queued < sandbox.options.maxQueue);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : draining ? 'draining' : 'full', ...stats });
  });

  if (options.demoPage !== undefined) {
    const page = await readFile(options.demoPage, 'utf8');
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  }

  return {
    app,
    metrics,
    drain: async () => {
      draining = true;
      await Promise.allSettled([...running]);
      await app.close();
    },
  };
}

/** The JSON body of an error: the library's code and field, or a validation error as one. */
function errorBody(error: Error & { code?: string; statusCode?: number; validation?: unknown[]; field?: string }) {
  if (error.validation !== undefined) {
    const [first] = error.validation as Array<{ instancePath?: string; params?: { missingProperty?: string } }>;
    const path = [first?.instancePath?.split('/').filter(Boolean).join('.'), first?.params?.missingProperty].filter(Boolean).join('.');
    return { statusCode: 400, code: InvalidArgumentError.code, error: 'Bad Request', message: error.message, field: path === '' ? 'job' : `job.${path}` };
  }
  if (error instanceof WarmboxError || (ERROR_CODES as readonly string[]).includes(error.code ?? '')) {
    const statusCode = httpStatusOf(error.code!);
    return { statusCode, code: error.code!, error: httpName(statusCode), message: error.message, ...(error.field ? { field: error.field } : {}) };
  }
  const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
  return { statusCode, code: error.code ?? ('WARMBOX_ERR_INTERNAL' satisfies ServiceErrorCode), error: httpName(statusCode), message: error.message };
}

function httpName(statusCode: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 499: 'Client Closed Request', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' } as Record<number, string>)[statusCode] ?? 'Error';
}

/**
 * The wire job as the library's: files given as {base64} become bytes; `id` is the service's.
 * Anything else passes as it came, for the library's checks to refuse (a WebSocket job has
 * no schema in front of it).
 */
function toJob({ id: _id, files, ...rest }: WireJob): Job {
  if (typeof files !== 'object' || files === null) return { ...rest, files: files as never };
  const decoded: Record<string, string | Buffer> = {};
  for (const [path, content] of Object.entries(files)) {
    decoded[path] = typeof content === 'object' && content !== null && typeof content.base64 === 'string' ? Buffer.from(content.base64, 'base64') : (content as string);
  }
  return { ...rest, files: decoded };
}

/** A RunResult as JSON: bytes as base64. */
export function toWire(result: RunResult) {
  return {
    ...result,
    files: result.files.map(({ path, size, data }) => ({ path, size, base64: data.toString('base64') })),
    figures: result.figures.map((png) => png.toString('base64')),
  };
}
