import { Readable, Transform } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import {
  AGENT_ROUTES,
  MAX_JOB_BYTES,
  RUN_CONTENT_TYPE,
  byteLengthOf,
  cellRequestSchema,
  encodeRunAnswer,
  errorBodySchema,
  runRequestSchema,
  type AgentCellRequest,
  type AgentErrorBody,
  type AgentHealth,
  type AgentReportAnswer,
  type AgentRunRequest,
  type AgentStreamEvent,
  type JsonPieces,
} from '../contract/protocol.js';
import type { OutputListener } from './python-runner.js';
import { openEgressRelay } from './egress-relay.js';
import { readFile, writeFile } from 'node:fs';
import { join } from 'node:path';
import { AGENT_IO_DIR, EGRESS_CA_PATH, EGRESS_SOCKET_NAME, SYSTEM_CA_BUNDLE } from '../contract/layout.js';

// Answers up to this size are joined and sent as one buffer, in one write.
const JOIN_ANSWER_BYTES = 256 * 1024;

/** What runs the one job, and a session's cells; PythonRunner in production. */
export interface JobRunner {
  run(job: AgentRunRequest, data: JsonPieces, onOutput: OutputListener): Promise<AgentReportAnswer>;
  runCell(cell: AgentCellRequest, data: JsonPieces, onOutput: OutputListener): Promise<AgentReportAnswer>;
  /** Raises KeyboardInterrupt in a running cell; false where none runs. */
  interrupt(): boolean;
  /** The job opened a session, and it has not ended. */
  readonly sessionOpen: boolean;
  /** The container's memory that is not the idle interpreter's, in bytes; null where unknown. */
  agentMemoryBytes(): number | null;
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
  /** The host's egress proxy socket, which a job that has network is relayed to. @default in AGENT_IO_DIR */
  readonly egressSocketPath?: string;
}

/**
 * The agent's HTTP app: `GET /health`, `POST /run` and `POST /stdin`. A container runs exactly
 * one job, so the first `POST /run` takes the runner and any later one gets 409; the same for
 * `/stdin`, whose body, a stream, becomes the program's stdin as it arrives. A job that opens
 * a session is followed by its cells, on `POST /cell`, one at a time, and `POST /interrupt`
 * raises KeyboardInterrupt in the one running. Listening is left to the caller (server.ts),
 * so tests drive the app with `inject()`. The runner may still be starting while the app is built.
 */
export function buildApp(runner: JobRunner | Promise<JobRunner>, options: AppOptions): FastifyInstance {
  const egressSocketPath = options.egressSocketPath ?? join(AGENT_IO_DIR, EGRESS_SOCKET_NAME);
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    // The host opens its connection while the container is idle, however long that is, and
    // sends the job on it: the connection is not closed for being idle.
    keepAliveTimeout: 0,
    // Reject unknown fields rather than drop them, and a wrong type rather than coerce it
    // (Fastify's default turns 5 into "5"): either is a host bug, not something to fix up.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    ...(options.compilers ? { schemaController: { compilersFactory: options.compilers } } : {}),
  });
  let taken = false;
  let stdinTaken = false;
  let cellRunning = false;
  const conflict = (message: string, code = 'AGENT_ERR_JOB_TAKEN'): AgentErrorBody => ({ statusCode: 409, code, error: 'Conflict', message });
  const unsupported = (code: string, message: string): AgentErrorBody => ({ statusCode: 415, code, error: 'Unsupported Media Type', message });

  // Fastify reads every body as it comes and ignores Content-Encoding: a compressed body
  // would be taken for plain bytes. The host sends none, so any coding is refused.
  app.addHook('onRequest', async (request, reply) => {
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.toLowerCase() !== 'identity') {
      return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_ENCODING', `content-encoding ${coding} is not supported`));
    }
  });

  // The host's first probe, as it connects, also learns the agent's share of the memory.
  app.get(AGENT_ROUTES.health, async (): Promise<AgentHealth> => {
    const jobRunner = await runner;
    if (!taken) return { status: 'ready', agentMemoryBytes: jobRunner.agentMemoryBytes() };
    return { status: jobRunner.sessionOpen ? 'session' : 'used' };
  });

  // The body of /stdin is not parsed: the handler reads it as it comes.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.post<{ Body: Readable }>(AGENT_ROUTES.stdin, async (request, reply) => {
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
  // as the body, and its data, kept aside for the runner in the chunks it arrived in.
  const jobData = new WeakMap<object, JsonPieces>();
  app.addContentTypeParser(RUN_CONTENT_TYPE, (request, payload, done) => {
    readJob(payload, Number(request.headers['content-length'] ?? 0), options.bodyLimitBytes).then(
      ({ fields, data }) => {
        jobData.set(request, data);
        done(null, fields);
      },
      (error: Error) => done(error, undefined),
    );
  });

  // Neither the fields nor the data stay on the request (the handlers drop its body), and no
  // variable holds the data while the program runs: see PythonRunner.run.
  const takeData = (request: object): JsonPieces => {
    const data = jobData.get(request)!;
    jobData.delete(request);
    return data;
  };

  app.post<{ Body: AgentRunRequest; Reply: AgentErrorBody | Buffer | Readable }>(
    AGENT_ROUTES.run,
    { schema: { body: runRequestSchema, response: { 409: errorBodySchema } } },
    async (request, reply) => {
      if (!jobData.has(request)) {
        return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_TYPE', `a job is sent as ${RUN_CONTENT_TYPE}`));
      }
      const jobRunner = await runner;
      if (taken) return reply.code(409).send(conflict('this container has already taken its one job'));
      taken = true;
      const job = request.body;
      (request as { body: unknown }).body = undefined;
      if (job.egressCa !== undefined) await writeTrust(job.egressCa);
      // Open before the program starts, cut once it has ended: the relay lives exactly as long as the job.
      const closeRelay = job.egress === true ? await openEgressRelay(egressSocketPath) : undefined;
      return sendAnswer(reply, (onOutput) => jobRunner.run(job, takeData(request), onOutput).finally(() => closeRelay?.()));
    },
  );

  app.post<{ Body: AgentCellRequest; Reply: AgentErrorBody | Buffer | Readable }>(
    AGENT_ROUTES.cell,
    { schema: { body: cellRequestSchema, response: { 409: errorBodySchema } } },
    async (request, reply) => {
      if (!jobData.has(request)) {
        return reply.code(415).send(unsupported('AGENT_ERR_CONTENT_TYPE', `a cell is sent as ${RUN_CONTENT_TYPE}`));
      }
      const jobRunner = await runner;
      if (!jobRunner.sessionOpen) return reply.code(409).send(conflict('no session is open in this container', 'AGENT_ERR_NO_SESSION'));
      if (cellRunning) return reply.code(409).send(conflict('a cell is running in this session', 'AGENT_ERR_CELL_RUNNING'));
      cellRunning = true;
      const cell = request.body;
      (request as { body: unknown }).body = undefined;
      // A cell of a session with network is a job of its own for the relay: open while it runs.
      const closeRelay = cell.egress === true ? await openEgressRelay(egressSocketPath) : undefined;
      return sendAnswer(reply, (onOutput) =>
        jobRunner
          .runCell(cell, takeData(request), onOutput)
          .finally(() => closeRelay?.())
          .finally(() => (cellRunning = false)),
      );
    },
  );

  app.post(AGENT_ROUTES.interrupt, async () => ({ interrupted: (await runner).interrupt() }));

  return app;
}

/**
 * Sends the answer to a job or a cell as it happens: the program's output, a line per event,
 * then the report and the result. Output that comes while the event loop is busy elsewhere
 * waits for its next turn and goes as one event, so a program that prints a line at a time
 * costs a line per turn, not per print; an event carries one stream, in the order written.
 * The lines are written to the response itself (the reply hijacked), not piped from a
 * stream: in the container's fresh process, the first pass through the stream machinery
 * cost every job some 3 to 4 ms (warm hello-world p50, piped 17.2 ms against 14.2 for an
 * answer sent whole; written so, 11.1 against 11.5, medians of five runs of 150 jobs each).
 */
function sendAnswer(reply: FastifyReply, run: (onOutput: OutputListener) => Promise<AgentReportAnswer>): FastifyReply {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, { 'content-type': RUN_CONTENT_TYPE });
  let pending: { stream: 'stdout' | 'stderr'; text: string } | undefined;
  let flushing: NodeJS.Immediate | undefined;
  const write = ({ stream, text }: NonNullable<typeof pending>) => {
    const event: AgentStreamEvent = { type: stream, data: text };
    response.write(`${JSON.stringify(event)}\n`);
  };
  const flush = () => {
    flushing = undefined;
    if (pending !== undefined) write(pending);
    pending = undefined;
  };
  const onOutput: OutputListener = (stream, text) => {
    if (pending?.stream === stream) {
      pending.text += text;
      return;
    }
    if (pending !== undefined) write(pending);
    pending = { stream, text };
    flushing ??= setImmediate(flush);
  };
  run(onOutput).then(
    (answer) => {
      clearImmediate(flushing);
      flush();
      const pieces = encodeRunAnswer(answer);
      // A small end is written whole; a large result as its pieces, not joined into one copy.
      if (byteLengthOf(pieces) <= JOIN_ANSWER_BYTES) response.end(Buffer.concat(pieces));
      else {
        for (const piece of pieces) response.write(piece);
        response.end();
      }
    },
    (error: Error) => response.destroy(error),
  );
  return reply;
}

/**
 * Reads a job's body as it arrives: the fields' line, parsed, and the data after it, kept as
 * the chunks it came in (views, not copies). Fastify's own body reading would join them.
 * Events, not `for await`: in the container's fresh process, the async iterator's machinery
 * runs for the first time with the job, and cost it half a millisecond.
 */
function readJob(payload: Readable, declaredBytes: number, limitBytes: number): Promise<{ fields: unknown; data: JsonPieces }> {
  return new Promise((resolve, reject) => {
    if (declaredBytes > limitBytes) return reject(tooLarge(limitBytes));
    const head: Buffer[] = [];
    const data: Buffer[] = [];
    let received = 0;
    // Every listener goes once the body is read: the request lives as long as the job, and a
    // listener left on it would keep the data from being collected while the program runs.
    const settle = (outcome: () => void) => {
      payload.off('data', take).off('error', fail).off('close', cut).off('end', end);
      payload.resume();
      outcome();
    };
    const fail = (error: Error) => settle(() => reject(error));
    const cut = () => fail(badRequest('the job ended before its body did'));
    const take = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) return fail(tooLarge(limitBytes));
      if (data.length > 0) return void data.push(chunk);
      const newline = chunk.indexOf(10);
      if (newline === -1) return void head.push(chunk);
      head.push(chunk.subarray(0, newline));
      data.push(chunk.subarray(newline + 1));
    };
    const end = () =>
      settle(() => {
        if (data.every((piece) => piece.length === 0)) return reject(badRequest('a job is two lines: its fields as JSON, then its data as JSON'));
        try {
          resolve({ fields: JSON.parse(Buffer.concat(head).toString('utf8')), data });
        } catch (error) {
          reject(badRequest(`the job's first line is not JSON: ${(error as Error).message}`));
        }
      });
    payload.on('data', take).once('error', fail).once('close', cut).once('end', end);
  });
}

function tooLarge(limitBytes: number): Error {
  return Object.assign(new Error(`a job is at most ${limitBytes} bytes`), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
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

/**
 * The job's trust: the image's CA bundle, if it has one, and the sandbox's egress CA; root's,
 * read-only. Callback fs, as the rest of the agent: fs/promises would load at its start.
 */
async function writeTrust(egressCa: string): Promise<void> {
  const system = await new Promise<string>((resolve) => readFile(SYSTEM_CA_BUNDLE, 'utf8', (error, text) => resolve(error ? '' : text)));
  await new Promise<void>((resolve, reject) => writeFile(EGRESS_CA_PATH, `${system}\n${egressCa}`, { mode: 0o444 }, (error) => (error ? reject(error) : resolve())));
}
