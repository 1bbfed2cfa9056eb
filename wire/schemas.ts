/**
 * The service's wire format as JSON Schemas, the one source of both its validation and its
 * types: Fastify validates requests and serialises replies with these, @fastify/swagger makes
 * the OpenAPI document from them, and json-schema-to-ts reads the TypeScript types out of the
 * same literals. json-schema-to-ts rather than TypeBox: it adds no code at run time (a
 * RemoteSandbox stays light), and the schemas stay plain JSON Schema, written as OpenAPI shows
 * them. Every field has a limit, from pool's limits; the library's own checks (bytes, paths,
 * names) still run behind them and answer with the same typed errors.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { MAX_ENV_BYTES, MAX_JOB_BYTES, MAX_JOB_FILES, MAX_MODULE_NAME_LENGTH, MAX_NETWORK_RULES, MAX_PATH_BYTES, MAX_PRELOAD, MAX_RETURN_PATTERNS, MAX_SESSION_MS, MAX_TIMEOUT_MS, MIN_MEMORY_LIMIT_MB, SESSION_DEFAULTS } from '../contract/limits.js';
import { reportSchema } from '../contract/protocol.js';
import { egressRecordSchema } from '../contract/egress.js';

const limitMs = { type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_MS } as const;

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, description: "the caller's name for the job, logged with it; a repeat of an id is answered with the first run's result" },
    code: { type: 'string', maxLength: MAX_JOB_BYTES, description: 'Python source, run as __main__ from /work/main.py' },
    data: { description: "any JSON value: the program's global `data`" },
    stdin: { type: 'string', maxLength: MAX_JOB_BYTES },
    timeoutMs: limitMs,
    cpuTimeMs: limitMs,
    memoryLimitMb: { type: 'integer', minimum: MIN_MEMORY_LIMIT_MB, description: "this job's memory limit in MiB, up to the service's maxJobMemoryLimitMb" },
    pidsLimit: { type: 'integer', minimum: 1, description: "this job's processes and threads, up to the service's maxJobPidsLimit" },
    env: { type: 'object', maxProperties: 1024, additionalProperties: { type: 'string', maxLength: MAX_ENV_BYTES } },
    network: {
      type: 'object',
      additionalProperties: false,
      required: ['allow'],
      description: "what this job may reach, within the service's --allow: host names, *.domains, addresses, CIDR ranges, each with an optional :port",
      properties: { allow: { type: 'array', maxItems: MAX_NETWORK_RULES, items: { type: 'string', minLength: 1, maxLength: 300 } } },
    },
    files: {
      type: 'object',
      maxProperties: MAX_JOB_FILES,
      description: 'path under /work -> UTF-8 text, or {"base64": "..."} for bytes',
      additionalProperties: {
        anyOf: [
          { type: 'string', maxLength: MAX_JOB_BYTES },
          { type: 'object', additionalProperties: false, required: ['base64'], properties: { base64: { type: 'string', maxLength: Math.ceil(MAX_JOB_BYTES / 3) * 4 } } },
        ],
      },
    },
    returnFiles: { type: 'array', maxItems: MAX_RETURN_PATTERNS, items: { type: 'string', minLength: 1, maxLength: MAX_PATH_BYTES } },
  },
} as const;

/** A job as JSON: a Job whose file bytes are base64, with the service's `id`. */
export type WireJob = FromSchema<typeof jobSchema>;

const { code: codeField, data: dataField, stdin: stdinField, timeoutMs: timeoutField, cpuTimeMs: cpuField, env: envField, files: filesField, returnFiles: returnFilesField, network: networkField } = jobSchema.properties;
const sessionMs = { type: 'integer', minimum: 1, maximum: MAX_SESSION_MS } as const;

export const sessionOptionsSchema = {
  $id: 'SessionOptions',
  type: 'object',
  additionalProperties: false,
  properties: {
    idleTimeoutMs: { ...sessionMs, description: `the session is closed after this long without a cell (default ${SESSION_DEFAULTS.idleTimeoutMs})` },
    maxLifetimeMs: { ...sessionMs, description: `the session is closed this long after it opened (default ${SESSION_DEFAULTS.maxLifetimeMs})` },
    timeoutMs: timeoutField,
    cpuTimeMs: cpuField,
    env: envField,
    files: filesField,
    network: networkField,
    preload: { type: 'array', maxItems: MAX_PRELOAD, items: { type: 'string', minLength: 1, maxLength: MAX_MODULE_NAME_LENGTH }, description: 'modules imported as the session opens' },
  },
} as const;

/** A session's options as JSON: SessionOptions whose file bytes are base64. */
export type WireSessionOptions = FromSchema<typeof sessionOptionsSchema>;

export const cellSchema = {
  $id: 'Cell',
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: {
    code: codeField,
    data: { ...dataField, description: 'sets the global `data` before the cell runs; left out, it stays as it was' },
    stdin: stdinField,
    timeoutMs: timeoutField,
    cpuTimeMs: cpuField,
    returnFiles: returnFilesField,
  },
} as const;

/** A session's cell as JSON. */
export type WireCell = FromSchema<typeof cellSchema>;

export const sessionSchema = {
  $id: 'Session',
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', description: '128 random bits, hex; only the token that opened the session can use it' } },
} as const;

// The agent's report less what the host turns into other fields: the files and figures
// become base64 here; the output, which came before the report, and the result, which
// follows it, are added.
const { status, files: _files, figures: _figures, ...reportFields } = reportSchema.properties;

export const resultSchema = {
  $id: 'RunResult',
  type: 'object',
  additionalProperties: false,
  required: [
    'status', 'stdout', 'stderr', 'result', 'exitCode', 'signal', 'timedOut', 'cpuTimeExceeded', 'memoryExceeded',
    'outputTruncated', 'error', 'durationMs', 'files', 'filesTruncated', 'figures', 'isError', 'egress',
  ],
  properties: {
    status,
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    ...reportFields,
    result: { description: 'what the program left in the global `result`' },
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'size', 'base64'],
        properties: { path: { type: 'string' }, size: { type: 'integer' }, base64: { type: 'string' } },
      },
    },
    figures: { type: 'array', items: { type: 'string', description: 'a PNG, base64' } },
    isError: { type: 'boolean' },
    egress: { type: 'array', description: 'every connection the program asked the egress proxy for, allowed or not', items: egressRecordSchema },
    replayed: { type: 'boolean', description: "true when this answers a repeat of a job `id` with the first run's result" },
  },
} as const;

/** A RunResult as JSON: the bytes of files and figures as base64. */
export type WireResult = FromSchema<typeof resultSchema>;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  additionalProperties: false,
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: "the library's error code, e.g. WARMBOX_ERR_QUEUE_FULL" },
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string', description: 'for WARMBOX_ERR_INVALID_ARGUMENT: the field at fault' },
    reason: { type: 'string', description: 'for WARMBOX_ERR_SESSION_ENDED: why the session ended (closed, idle, lifetime, timeout, memory, exit, error, sandboxClosed)' },
  },
} as const;

/** The body of every answer that is not a result, and of a WebSocket's `error` message. */
export type WireError = FromSchema<typeof errorSchema>;
