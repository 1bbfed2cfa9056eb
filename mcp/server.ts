/**
 * warmbox as a Model Context Protocol server, for language-model clients: one tool,
 * `run_python`, over any of the SDK's transports (stdio for `warmbox mcp`, Streamable HTTP at
 * `/mcp` on `warmbox serve`).
 *
 * Built on the official SDK's low-level `Server` rather than `McpServer`, whose tools take zod
 * shapes: here the tool's input schema is the service's own job schema (wire/), and its output
 * schema the service's result schema, so the two front doors cannot drift apart.
 *
 * What the tool answers: the status line, stdout, stderr, the traceback and `result` as text,
 * each figure as an image, and the whole RunResult as structured content. A program that
 * fails is such a result; a wrong argument, or a sandbox that cannot run the job, is a tool
 * error (`isError`) that names the field or the error's code; never a protocol error.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Ajv } from 'ajv';
import { InvalidArgumentError, WarmboxError } from '../pool/errors.js';
import type { RunResult } from '../pool/index.js';
import { encodeResult, fieldOfSchemaErrors, jobSchema, resultSchema, type WireJob } from '../wire/index.js';

/** Runs one job as the service would: on a Sandbox, or through the service's own accounting. */
export type RunWireJob = (job: WireJob) => Promise<RunResult>;

export const RUN_PYTHON = 'run_python';

const { code, data, files, timeoutMs } = jobSchema.properties;

/** The tool's input: the service's job, less what a model has no use for (stdin, env, the id). */
export const runPythonInput = {
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: { code, data, files, timeoutMs },
} as const;

const { $id: _id, ...runResultOutput } = resultSchema;

// As Fastify validates the service's jobs: a wrong type is refused, never coerced.
const validateInput = new Ajv({ strict: false, coerceTypes: false }).compile(runPythonInput);

/** An MCP server with warmbox's tools, each call run by `run`; connect it to a transport. */
export function createMcpServer(run: RunWireJob, version: string): Server {
  const server = new Server({ name: 'warmbox', version }, { capabilities: { tools: {} } });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      {
        name: RUN_PYTHON,
        title: 'Run Python',
        description:
          'Runs Python 3 code in a fresh, single-use sandbox with no network, and answers with its output, ' +
          'its figures (matplotlib, as images) and its `result`. The code sees `data` as a global and may set `result` ' +
          'to any JSON value; `files` are written beside it first. numpy, pandas and matplotlib are there when the image has them.',
        inputSchema: runPythonInput,
        outputSchema: runResultOutput,
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
    ],
  }));

  server.setRequestHandler(CallToolRequestSchema, async ({ params }): Promise<CallToolResult> => {
    if (params.name !== RUN_PYTHON) return toolError(`WARMBOX_ERR_INVALID_ARGUMENT: there is no tool ${JSON.stringify(params.name)}; there is ${RUN_PYTHON}`);
    const args = params.arguments ?? {};
    if (!validateInput(args)) {
      const field = fieldOfSchemaErrors(validateInput.errors);
      return toolError(`${InvalidArgumentError.code}: ${field} ${validateInput.errors?.[0]?.message ?? 'is wrong'}`);
    }
    let result: RunResult;
    try {
      result = await run(args as WireJob);
    } catch (error) {
      if (error instanceof WarmboxError) return toolError(`${error.code}: ${error.message}`);
      throw error;
    }
    return toToolResult(result);
  });

  return server;
}

/** A result as an MCP tool's answer: text for people and models, images, and the RunResult itself. */
export function toToolResult(result: RunResult): CallToolResult {
  const ending = [
    `status: ${result.status}`,
    ...(result.exitCode === null ? [] : [`exit code ${result.exitCode}`]),
    ...(result.signal === null ? [] : [`signal ${result.signal}`]),
    `${Math.round(result.durationMs)} ms`,
  ].join(', ');
  const wire = encodeResult(result);
  const text = (label: string, body: string) => ({ type: 'text' as const, text: `${label}:\n${body}` });
  return {
    content: [
      { type: 'text', text: ending },
      ...(result.stdout === '' ? [] : [text('stdout', result.stdout)]),
      ...(result.stderr === '' ? [] : [text('stderr', result.stderr)]),
      ...(result.error === null ? [] : [text('error', result.error.traceback || `${result.error.type}: ${result.error.message}`)]),
      ...(result.result === null ? [] : [text('result', JSON.stringify(result.result))]),
      ...wire.figures.map((png) => ({ type: 'image' as const, data: png, mimeType: 'image/png' })),
    ],
    structuredContent: wire,
  };
}

function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}
