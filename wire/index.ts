/**
 * The wire between `warmbox serve` (service/) and its clients (remote/, the demo page): the
 * routes, the WebSocket's messages, and the conversions of a job and a result to and from
 * JSON, each written once, for both sides. Light: it loads pool's limits and the report's
 * schema, never the pool itself, so that a RemoteSandbox does not load dockerode.
 */
import type { Job, RunResult, SessionOptions } from '../pool/index.js';
import type { WireCell, WireError, WireJob, WireResult, WireSessionOptions } from './schemas.js';

export { cellSchema, errorSchema, jobSchema, resultSchema, sessionOptionsSchema, sessionSchema, type WireCell, type WireError, type WireJob, type WireResult, type WireSessionOptions } from './schemas.js';
export { ROUTES, sessionRoute, TOKEN_PROTOCOL_PREFIX } from './routes.js';
export { httpStatusOf, type ServiceErrorCode } from './http-status.js';
export { SessionRegistry, type OwnedSessions } from './session-registry.js';

/** A client's messages on ROUTES.ws: the job first, then its stdin as it comes, then the stdin's end. */
export type ClientMessage = { type: 'run'; job: WireJob } | { type: 'stdin'; data: string } | { type: 'stdin_end' };

/** A client's messages on ROUTES.sessionWs: cells, run in order, each answered by its output and result; and interrupts. */
export type SessionClientMessage = { type: 'run'; cell: WireCell } | { type: 'interrupt' };

/** The service's messages on ROUTES.ws: the program's output as it is written, then its result, or an error. */
export type ServerMessage = { type: 'stdout'; data: string } | { type: 'stderr'; data: string } | { type: 'result'; result: WireResult } | { type: 'error'; error: WireError };

/** What a JSON Schema validator (Ajv, as Fastify and the MCP server use it) says of a value it refuses. */
export interface SchemaError {
  readonly instancePath?: string;
  readonly params?: { readonly missingProperty?: string };
  readonly message?: string;
}

/** The job's field a validator's first error is about, as the library names it: `job.files.a.txt`, `job.code`, or `job`. */
export function fieldOfSchemaErrors(errors: readonly SchemaError[] | null | undefined): string {
  const first = errors?.[0];
  const path = [first?.instancePath?.split('/').filter(Boolean).join('.'), first?.params?.missingProperty].filter(Boolean).join('.');
  return path === '' ? 'job' : `job.${path}`;
}

/** A job as it goes on the wire: file bytes as base64, under the id the service remembers it by. */
export type EncodableJob = Omit<Job, 'signal' | 'stdin'> & { readonly id: string; readonly stdin?: string };

/** A result as it comes off the wire. */
export interface DecodedResult extends RunResult {
  /** True when the service answered a repeat of the job's id with the first run's result. */
  readonly replayed?: boolean;
}

/**
 * A job as JSON. Whatever is not bytes passes as it came: the service's schema and the
 * library's checks refuse a wrong field, and name it, in one place.
 */
export function encodeJob({ files, ...rest }: EncodableJob): WireJob {
  // The cast: a caller's job is readonly, and json-schema-to-ts's types are not.
  return (files === undefined ? rest : { ...rest, files: encodeFiles(files) }) as WireJob;
}

/** A job's or a session's files as JSON: bytes as {base64}; anything else as it came, for the checks to refuse. */
export function encodeFiles(files: NonNullable<Job['files']>): NonNullable<WireJob['files']> {
  if (typeof files !== 'object' || files === null) return files;
  const encoded: Record<string, string | { base64: string }> = {};
  for (const [path, content] of Object.entries(files)) {
    encoded[path] = content instanceof Uint8Array ? { base64: Buffer.from(content).toString('base64') } : content;
  }
  return encoded;
}

/** Files off the wire as the library's: {base64} become bytes; anything else passes, for the library's checks. */
export function decodeFiles(files: NonNullable<WireJob['files']>): NonNullable<Job['files']> {
  if (typeof files !== 'object' || files === null) return files as never;
  const decoded: Record<string, string | Buffer> = {};
  for (const [path, content] of Object.entries(files)) {
    decoded[path] = typeof content === 'object' && content !== null && typeof content.base64 === 'string' ? Buffer.from(content.base64, 'base64') : (content as string);
  }
  return decoded;
}

/**
 * A job off the wire as the library's: files given as {base64} become bytes; `id` is the
 * service's. Anything else passes as it came, for the library's checks to refuse (a WebSocket
 * job has no schema in front of it).
 */
export function decodeJob({ id: _id, files, ...rest }: WireJob): Job {
  return files === undefined ? rest : { ...rest, files: decodeFiles(files) };
}

/** A session's options off the wire: its files' bytes as bytes again. */
export function decodeSessionOptions({ files, ...rest }: WireSessionOptions): SessionOptions {
  return files === undefined ? rest : { ...rest, files: decodeFiles(files) };
}

/** A result as JSON: the bytes of files and figures as base64. */
export function encodeResult(result: DecodedResult): WireResult {
  return {
    ...result,
    files: result.files.map(({ path, size, data }) => ({ path, size, base64: data.toString('base64') })),
    figures: result.figures.map((png) => png.toString('base64')),
    egress: [...result.egress],
  };
}

/** A result off the wire: the bytes of files and figures as Buffers again. */
export function decodeResult({ files, figures, ...rest }: WireResult): DecodedResult {
  return {
    ...rest,
    files: files.map(({ path, size, base64 }) => ({ path, size, data: Buffer.from(base64, 'base64') })),
    figures: figures.map((png) => Buffer.from(png, 'base64')),
  };
}
