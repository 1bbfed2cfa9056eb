import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../agent/app.js';
import { decodeRunAnswer, encodeRunRequest, RUN_CONTENT_TYPE, reportWithOutput, type AgentCellRequest, type AgentReportAnswer, type AgentRunAnswer, type AgentRunRequest } from '../../contract/protocol.js';
import { PythonRunner, type OutputListener } from '../../agent/python-runner.js';

export const RUNNER_PATH = new URL('../../agent/runner.py', import.meta.url).pathname;

/** The agent's app with a real python3 runner on this machine, torn down with the test. */
export async function startAgent(t: ExecutionContext): Promise<FastifyInstance> {
  const app = buildApp(await startRunner(t), { bodyLimitBytes: 64 * 1024 * 1024 });
  t.teardown(() => app.close());
  return app;
}

/** A real python3 runner on this machine, in directories of its own, torn down with the test. */
export async function startRunner(t: ExecutionContext): Promise<PythonRunner> {
  const cwd = mkdtempSync(join(tmpdir(), 'warmbox-agent-test-'));
  const returnedFilesDir = mkdtempSync(join(tmpdir(), 'warmbox-agent-test-out-'));
  const runner = await PythonRunner.start({ pythonPath: 'python3', runnerPath: RUNNER_PATH, cwd, returnedFilesDir });
  t.teardown(() => {
    runner.kill();
    rmSync(cwd, { recursive: true, force: true });
    rmSync(returnedFilesDir, { recursive: true, force: true });
  });
  return runner;
}

export function job(fields: Partial<AgentRunRequest>): AgentRunRequest {
  return {
    code: '',
    stdin: '',
    env: {},
    timeoutMs: 5000,
    cpuTimeMs: 5000,
    maxOutputBytes: 1024 * 1024,
    stopOnOutputLimit: true,
    stdinOpen: false,
    files: [],
    returnFiles: { patterns: [], maxFiles: 100, maxBytes: 1 << 20, timeoutMs: 2000 },
    rlimits: { fileSizeBytes: 1 << 26, openFiles: 256, stackBytes: 1 << 23 },
    ...fields,
  };
}

/** POSTs a job's two lines as the host does: its fields (any object, for wrong ones), then its data. */
export function postJob(app: FastifyInstance, fields: object, data: unknown = null) {
  return app.inject({ method: 'POST', url: '/run', headers: { 'content-type': RUN_CONTENT_TYPE }, payload: Buffer.concat(encodeRunRequest(fields as AgentRunRequest, JSON.stringify(data))) });
}

/** POSTs one job and returns the agent's report, with `result` parsed as the host would. */
export async function runJob(app: FastifyInstance, { data, ...fields }: Partial<AgentRunRequest> & { data?: unknown }) {
  const answer = await postJob(app, job(fields), data);
  if (answer.statusCode !== 200) throw new Error(`the agent answered ${answer.statusCode}: ${answer.body}`);
  const { response, resultJson } = decodeRunAnswer(answer.rawPayload);
  return { statusCode: answer.statusCode, ...response, result: JSON.parse(Buffer.concat(resultJson).toString('utf8')) as unknown };
}

/** A cell's fields as the host sends them on `POST /cell`, with `fields` on top. */
export function cell(fields: Partial<AgentCellRequest>): AgentCellRequest {
  return {
    code: '',
    stdin: '',
    timeoutMs: 5000,
    cpuTimeMs: 5000,
    maxOutputBytes: 1024 * 1024,
    stopOnOutputLimit: true,
    returnFiles: { patterns: [], maxFiles: 100, maxBytes: 1 << 20, timeoutMs: 2000 },
    ...fields,
  };
}

/** POSTs one cell and returns the agent's report, with `result` parsed. */
export async function runCell(app: FastifyInstance, { data, ...fields }: Partial<AgentCellRequest> & { data?: unknown }) {
  const answer = await app.inject({ method: 'POST', url: '/cell', headers: { 'content-type': RUN_CONTENT_TYPE }, payload: Buffer.concat(encodeRunRequest(cell(fields) as never, JSON.stringify(data ?? null))) });
  if (answer.statusCode !== 200) throw new Error(`the agent answered ${answer.statusCode}: ${answer.body}`);
  const { response, resultJson } = decodeRunAnswer(answer.rawPayload);
  return { ...response, result: JSON.parse(Buffer.concat(resultJson).toString('utf8')) as unknown };
}

/**
 * A job or a cell run on the runner itself, its output gathered as the host's reader gathers
 * the answer's events (each also to `onOutput`): the report with the output, and the result.
 */
export async function withOutput(run: (onOutput: OutputListener) => Promise<AgentReportAnswer>, onOutput?: OutputListener): Promise<AgentRunAnswer> {
  const output = { stdout: '', stderr: '' };
  const { report, resultJson } = await run((stream, text) => {
    output[stream] += text;
    onOutput?.(stream, text);
  });
  return { response: reportWithOutput(report, output), resultJson };
}
