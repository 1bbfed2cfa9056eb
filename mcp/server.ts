/**
 * warmbox as a Model Context Protocol server, for language-model clients: the tool
 * `run_python`, a fresh sandbox per call, and the session tools (`python_session_open`,
 * `python_session_run`, `python_session_close`), one interpreter kept for many calls, as an
 * agent that loads data once and then asks ten questions of it wants; over any of the SDK's
 * transports (stdio for `warmbox mcp`, Streamable HTTP at `/mcp` on `warmbox serve`).
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
import { InvalidArgumentError, WarmboxError } from '../contract/errors.js';
import type { CellResult, Job, PythonSandbox, RunResult } from '../pool/index.js';
import { decodeJob, decodeSessionOptions, encodeResult, fieldOfSchemaErrors, jobSchema, resultSchema, sessionOptionsSchema, type OwnedSessions, type WireJob, type WireSessionOptions } from '../wire/index.js';
import { SESSION_ID_LENGTH } from '../contract/limits.js';

/** What the MCP server is given besides its sandbox. */
export interface McpServerOptions {
  /** warmbox's version, which the server reports. */
  readonly version: string;
  /**
   * The sessions the session tools use, as one owner's: the stdio client's, or the caller's
   * token's at /mcp. Without it the server offers run_python alone.
   */
  readonly sessions?: Pick<OwnedSessions, 'open' | 'run' | 'close'>;
  /** How run_python runs a job: the sandbox's run, unless the service counts and logs its jobs. */
  readonly runJob?: (job: Job) => Promise<RunResult>;
}

export const RUN_PYTHON = 'run_python';
export const SESSION_OPEN = 'python_session_open';
export const SESSION_RUN = 'python_session_run';
export const SESSION_CLOSE = 'python_session_close';

const { code, data, files, timeoutMs, network } = jobSchema.properties;

/** The tool's input: the service's job, less what a model has no use for (stdin, env, the id); `network` within the server's --allow. */
export const runPythonInput = {
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: { code, data, files, timeoutMs, network },
} as const;

const { $id: _id, ...runResultOutput } = resultSchema;
const sessionId = { type: 'string', minLength: 1, maxLength: SESSION_ID_LENGTH, description: 'what python_session_open answered' } as const;
const { files: sessionFiles, preload } = sessionOptionsSchema.properties;

/** The session tools' inputs. */
const sessionInputs = {
  [SESSION_OPEN]: { type: 'object', additionalProperties: false, properties: { files: sessionFiles, preload } },
  [SESSION_RUN]: { type: 'object', additionalProperties: false, required: ['session_id', 'code'], properties: { session_id: sessionId, code } },
  [SESSION_CLOSE]: { type: 'object', additionalProperties: false, required: ['session_id'], properties: { session_id: sessionId } },
} as const;

// As Fastify validates the service's jobs: a wrong type is refused, never coerced.
const ajv = new Ajv({ strict: false, coerceTypes: false });
const validators = {
  [RUN_PYTHON]: ajv.compile(runPythonInput),
  [SESSION_OPEN]: ajv.compile(sessionInputs[SESSION_OPEN]),
  [SESSION_RUN]: ajv.compile(sessionInputs[SESSION_RUN]),
  [SESSION_CLOSE]: ajv.compile(sessionInputs[SESSION_CLOSE]),
};
const TOOLS = Object.keys(validators) as Array<keyof typeof validators>;

/**
 * An MCP server with warmbox's tools over `sandbox`, local or remote: each run_python call a
 * job of its own, each session one of `sessions`; connect it to a transport.
 */
export function createMcpServer(sandbox: PythonSandbox, { version, sessions, runJob = (job) => sandbox.run(job) }: McpServerOptions): Server {
  const server = new Server({ name: 'warmbox', version }, { capabilities: { tools: {} } });
  const annotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      {
        name: RUN_PYTHON,
        title: 'Run Python',
        description:
          'Runs Python 3 code in a fresh, single-use sandbox, with no network unless `network.allow` asks for hosts the server allows, and answers with its output, ' +
          'its figures (matplotlib, as images) and its `result`. The code sees `data` as a global and may set `result` ' +
          'to any JSON value; `files` are written beside it first. numpy, pandas and matplotlib are there when the image has them.',
        inputSchema: runPythonInput,
        outputSchema: runResultOutput,
        annotations,
      },
      ...(sessions === undefined
        ? []
        : [
            {
              name: SESSION_OPEN,
              title: 'Open a Python session',
              description:
                'Opens a Python session: one interpreter, in a sandbox of its own with no network, kept for many python_session_run calls, ' +
                'so that data loaded once stays loaded. `files` are written into its working directory; `preload` modules are imported. ' +
                'Answers its session_id. Close it with python_session_close; it also closes after 5 idle minutes.',
              inputSchema: sessionInputs[SESSION_OPEN],
              annotations,
            },
            {
              name: SESSION_RUN,
              title: 'Run Python in a session',
              description:
                'Runs code in the session\'s interpreter, as a notebook cell: variables, imports and files of earlier calls are there. ' +
                'Answers with its output, its figures, and the value of its last expression (as text, a table as HTML, or a figure as an image).',
              inputSchema: sessionInputs[SESSION_RUN],
              outputSchema: runResultOutput,
              annotations,
            },
            {
              name: SESSION_CLOSE,
              title: 'Close a Python session',
              description: 'Closes the session: its interpreter and sandbox are removed.',
              inputSchema: sessionInputs[SESSION_CLOSE],
              annotations: { ...annotations, destructiveHint: true, idempotentHint: true },
            },
          ]),
    ],
  }));

  server.setRequestHandler(CallToolRequestSchema, async ({ params }): Promise<CallToolResult> => {
    const name = params.name as keyof typeof validators;
    const offered = sessions === undefined ? [RUN_PYTHON] : TOOLS;
    if (!offered.includes(name)) return toolError(`WARMBOX_ERR_INVALID_ARGUMENT: there is no tool ${JSON.stringify(params.name)}; there is ${offered.join(', ')}`);
    const args = params.arguments ?? {};
    const validate = validators[name];
    if (!validate(args)) {
      const field = fieldOfSchemaErrors(validate.errors);
      return toolError(`${InvalidArgumentError.code}: ${field} ${validate.errors?.[0]?.message ?? 'is wrong'}`);
    }
    try {
      if (name === RUN_PYTHON) return toToolResult(await runJob(decodeJob(args as WireJob)));
      const { session_id: id, code: cellCode } = args as { session_id: string; code: string };
      if (name === SESSION_OPEN) {
        const opened = await sessions!.open(decodeSessionOptions(args as WireSessionOptions));
        return { content: [{ type: 'text', text: `session_id: ${opened}` }], structuredContent: { session_id: opened } };
      }
      if (name === SESSION_RUN) return toToolResult(await sessions!.run(id, cellCode));
      await sessions!.close(id);
      return { content: [{ type: 'text', text: `session ${id} closed` }] };
    } catch (error) {
      if (error instanceof WarmboxError) return toolError(`${error.code}: ${error.message}`);
      throw error;
    }
  });

  return server;
}

/** A result as an MCP tool's answer: text for people and models, images, and the RunResult itself. */
export function toToolResult(result: RunResult | CellResult): CallToolResult {
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
      ...(result.egress.length === 0 ? [] : [text('network', result.egress.map(({ host, port, allowed, reason }) => `${host}:${port} ${allowed ? 'allowed' : 'refused'} (${reason})`).join('\n'))]),
      ...valueContent('value' in result ? result.value : null),
      ...(('sessionEnded' in result && result.sessionEnded) ? [{ type: 'text' as const, text: 'the session ended with this call: open a new one' }] : []),
      ...wire.figures.map((png) => ({ type: 'image' as const, data: png, mimeType: 'image/png' })),
    ],
    structuredContent: wire,
  };
}

/** A cell's value for a model: a figure as an image; otherwise its HTML (a table) or its repr, as text. */
function valueContent(value: CellResult['value']): CallToolResult['content'] {
  if (value === null) return [];
  if (value.png !== undefined) return [{ type: 'image', data: value.png, mimeType: 'image/png' }];
  return [{ type: 'text', text: `value:\n${value.html ?? value.repr}` }];
}

function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}
