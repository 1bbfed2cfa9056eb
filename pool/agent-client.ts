/**
 * The host's HTTP client of one container's agent, over its Unix socket (undici): the job's
 * connection, opened while the container waits; `POST /run`, its answer read as it arrives;
 * the job's stdin on a connection of its own; and `/health` probes on a third, for the
 * watchdog (pool/warm-container.ts), which decides when the agent is lost.
 */
import { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { Client } from 'undici';
import { AGENT_ROUTES, byteLengthOf, encodeRunRequest, type AgentExchangeRoute, RUN_CONTENT_TYPE, RunAnswerReader, type AgentCellRequest, type AgentHealth, type AgentRunAnswer, type AgentRunRequest } from '../contract/protocol.js';
import { AgentProtocolError } from '../contract/errors.js';

const log = debuglog('warmbox');

// How long the job's connection, opened once the agent is ready, may stay idle: a day, far
// longer than a container waits in a pool. undici opens a new one if it was closed anyway.
const IDLE_CONNECTION_MS = 24 * 3600 * 1000;
// An interrupt is a signal sent by the agent: it answers at once, unless it is lost.
const INTERRUPT_TIMEOUT_MS = 5000;
/** Data up to this size is joined to the job's fields and sent in one write. */
const ONE_WRITE_BYTES = 64 * 1024;

export class AgentClient {
  private constructor(
    readonly socketPath: string,
    private readonly client: Client,
    /** The container's memory that is not the idle interpreter's, as the agent measured it when ready; null where it could not. */
    readonly agentMemoryBytes: number | null,
  ) {}

  /** Opens the job's connection to the agent at `socketPath`, checking it is ready. */
  static async connect(socketPath: string, timeoutMs: number): Promise<AgentClient> {
    const { client, health } = await connectToAgent(socketPath, timeoutMs);
    return new AgentClient(socketPath, client, health.agentMemoryBytes ?? null);
  }

  /**
   * Sends the job and reads the answer as it arrives into `reader`: the output (to the
   * reader's listener), then the report and the result's bytes. `signal` ends it (the
   * caller's abort, or the watchdog's); the reader keeps what was heard before.
   */
  async run(request: AgentRunRequest | AgentCellRequest, dataJson: Buffer, signal: AbortSignal, reader: RunAnswerReader, path: AgentExchangeRoute = '/run'): Promise<AgentRunAnswer> {
    const pieces = encodeRunRequest(request, dataJson);
    const { statusCode, body } = await this.client.request({
      path,
      method: 'POST',
      headers: { 'content-type': RUN_CONTENT_TYPE, 'content-length': String(byteLengthOf(pieces)) },
      // A small job goes in one write; large data goes as the piece it is, not copied into one body.
      body: dataJson.length <= ONE_WRITE_BYTES ? Buffer.concat(pieces) : Readable.from(pieces, { objectMode: false }),
      // The watchdog decides when the agent is lost; undici's own timers would cut off
      // a long reply from an agent that is alive and sending it.
      headersTimeout: 0,
      bodyTimeout: 0,
      signal,
    });
    if (statusCode !== 200) {
      throw new AgentProtocolError(`the agent answered ${statusCode}: ${(await body.text()).slice(0, 500)}`);
    }
    return readAnswer(body, reader);
  }

  /**
   * Sends the job's stdin stream to the agent's `POST /stdin` on a connection of its own, as
   * it yields. `stop` ends the sending once the job is over, whether or not the stream ended.
   */
  sendStdin(source: AsyncIterable<string | Uint8Array>): { stop(): Promise<void> } {
    const client = new Client('http://agent', { socketPath: this.socketPath, pipelining: 0 });
    const controller = new AbortController();
    const sent = client
      .request({
        path: AGENT_ROUTES.stdin,
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Readable.from(asBuffers(source)),
        headersTimeout: 0,
        bodyTimeout: 0,
        signal: controller.signal,
      })
      .then(({ body }) => body.dump())
      .catch((error: unknown) => log('agent at %s: stdin: %o', this.socketPath, error));
    return {
      stop: async () => {
        controller.abort();
        await sent;
        await client.destroy().catch(() => {});
      },
    };
  }

  /** Raises KeyboardInterrupt in a session's running cell, on a connection of its own (the cell's is busy). */
  async interrupt(): Promise<void> {
    const client = new Client('http://agent', { socketPath: this.socketPath, pipelining: 0 });
    try {
      const { body } = await client.request({ path: AGENT_ROUTES.interrupt, method: 'POST', headersTimeout: INTERRUPT_TIMEOUT_MS, bodyTimeout: INTERRUPT_TIMEOUT_MS });
      await body.dump();
    } finally {
      await client.destroy().catch(() => {});
    }
  }

  /** Whether the agent answers `GET /health` within `timeoutMs`, on a connection of its own. */
  async answersHealth(timeoutMs: number): Promise<boolean> {
    const probe = new Client('http://agent', { socketPath: this.socketPath, pipelining: 0 });
    try {
      const { statusCode, body } = await probe.request({ path: AGENT_ROUTES.health, method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await body.dump();
      return statusCode === 200;
    } catch {
      return false;
    } finally {
      await probe.destroy().catch(() => {});
    }
  }

  /** Closes the job's connection. */
  async close(): Promise<void> {
    await this.client.destroy().catch(() => {});
  }
}

/**
 * The connection the job will be sent on, opened while the container is idle with a first
 * `GET /health`. The job then pays neither the connection nor the first pass of the agent's
 * request path (parser, router, reply), which a fresh process runs slowly once.
 */
async function connectToAgent(socketPath: string, timeoutMs: number): Promise<{ client: Client; health: AgentHealth }> {
  // Idle for as long as the container waits in the pool: the agent does not close it either.
  const client = new Client('http://agent', { socketPath, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS });
  try {
    const { statusCode, body } = await client.request({ path: AGENT_ROUTES.health, method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const health = (await body.json()) as AgentHealth;
    if (statusCode !== 200 || health.status !== 'ready') throw new AgentProtocolError(`the agent's health answered ${statusCode} ${JSON.stringify(health)}`);
    return { client, health };
  } catch (error) {
    await client.destroy().catch(() => {});
    throw error;
  }
}

/**
 * Reads the agent's answer as it arrives into `reader`. The body is iterated itself (not
 * through readline, which drops its input's errors), so a lost agent or an abort ends the
 * loop with an error.
 */
async function readAnswer(body: Readable, reader: RunAnswerReader): Promise<AgentRunAnswer> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    try {
      reader.push(chunk);
    } catch (error) {
      throw new AgentProtocolError(`the agent's answer was not one: ${(error as Error).message}`, { cause: error });
    }
  }
  try {
    return reader.end();
  } catch (error) {
    throw new AgentProtocolError(`the agent's answer was not whole: ${(error as Error).message}`, { cause: error });
  }
}

async function* asBuffers(source: AsyncIterable<string | Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
