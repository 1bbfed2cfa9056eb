/**
 * The agent's report of a job (every field of a RunResult but `result`, `isError` and the
 * bytes of files and figures) as JSON Schema: a light public face, for the layers that put a
 * RunResult on a wire and extend this schema rather than write it again.
 */
export { runResponseSchema as reportSchema, RUN_STATUSES } from '../agent/protocol.js';
