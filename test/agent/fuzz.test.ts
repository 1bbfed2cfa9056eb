/**
 * The agent and the runner with generated input (fast-check).
 *
 * The agent's HTTP endpoint, listening on a real socket as in the container, takes generated
 * wrong requests over raw connections: wrong methods and paths, bodies that are not a job
 * (random bytes, JSON of another shape, a job with one field missing, unknown or of the wrong
 * type), wrong content types and encodings, bodies past the limit, broken chunking, garbage
 * in place of HTTP, and connections cut halfway or sent a byte at a time. Each is answered
 * with a 4xx or not at all, never run; the one real job afterwards still runs, once.
 *
 * The runner takes generated programs and data: whatever the program does, its report is
 * one report that the response schema accepts, with the status its ending calls for.
 */
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Ajv } from 'ajv';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Client } from 'undici';
import { buildApp } from '../../agent/app.js';
import { decodeRunAnswer, encodeRunRequest, RUN_CONTENT_TYPE, reportSchema, type AgentRunRequest } from '../../contract/protocol.js';
import { PythonRunner } from '../../agent/python-runner.js';
import { job, RUNNER_PATH } from '../helpers/agent.js';

// Debian's interpreter, the image's, rather than a shim that costs 100 ms a start.
const PYTHON = '/usr/bin/python3';
const BODY_LIMIT = 64 * 1024;

interface Workspace {
  readonly cwd: string;
  readonly returnedFilesDir: string;
}

function workspace(t: ExecutionContext): Workspace {
  const cwd = mkdtempSync(join(tmpdir(), 'warmbox-fuzz-'));
  const returnedFilesDir = mkdtempSync(join(tmpdir(), 'warmbox-fuzz-out-'));
  t.teardown(() => {
    rmSync(cwd, { recursive: true, force: true });
    rmSync(returnedFilesDir, { recursive: true, force: true });
  });
  return { cwd, returnedFilesDir };
}

/** One wrong request, as the bytes a client would send. */
interface WrongRequest {
  readonly label: string;
  readonly head: string;
  readonly body: Buffer;
  /** Send this many bytes of the whole, then cut the connection. */
  readonly cutAt?: number;
  /** Send a byte at a time, each in its own turn of the event loop. */
  readonly slow?: boolean;
}

const validJob = job({ code: 'result = data["n"] * 2' });
const validData = '{"n": 21}';
const validBody = Buffer.concat(encodeRunRequest(validJob, validData));
const asJob = { 'content-type': RUN_CONTENT_TYPE };

function request(method: string, path: string, headers: Record<string, string | number>, body: Buffer | string): { head: string; body: Buffer } {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/1.1`, 'host: agent', 'connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (!('transfer-encoding' in headers) && !('content-length' in headers)) lines.push(`content-length: ${bytes.length}`);
  return { head: `${lines.join('\r\n')}\r\n\r\n`, body: bytes };
}

const fields = Object.keys(validJob) as (keyof AgentRunRequest)[];

/** A value of another JSON type than `value`'s, which no coercion may accept. */
function wrongType(value: unknown): unknown {
  if (typeof value === 'string') return 5;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 0;
  if (Array.isArray(value)) return { 0: 'x' };
  return ['not', 'an', 'object'];
}

const wrongJobBody: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.constantFrom(...fields).map((field): [string, unknown] => {
    const { [field]: _, ...rest } = validJob;
    return [`without ${field}`, rest];
  }),
  fc.constantFrom(...fields).map((field): [string, unknown] => [`${field} of a wrong type`, { ...validJob, [field]: wrongType(validJob[field]) }]),
  fc.string({ minLength: 1, maxLength: 8 }).filter((key) => !(key in validJob)).map((key): [string, unknown] => [`unknown field ${JSON.stringify(key)}`, { ...validJob, [key]: 1 }]),
  fc.jsonValue({ maxDepth: 3 }).filter((value) => typeof value !== 'object' || value === null || Array.isArray(value) || !('code' in value)).map((value): [string, unknown] => ['JSON of another shape', value]),
);

const wrongRequest: fc.Arbitrary<WrongRequest> = fc.oneof(
  // A method or a path the agent does not serve.
  fc
    .record({
      method: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST'),
      path: fc.constantFrom('/run', '/stdin', '/', '/health/x', '/run/', '/..%2frun', '/RUN'),
    })
    .filter(({ method, path }) => !(method === 'POST' && (path === '/run' || path === '/stdin')))
    .map(({ method, path }) => ({ label: `${method} ${path}`, ...request(method, path, asJob, validBody) })),
  // A body that is not a job.
  wrongJobBody.map(([label, body]) => ({ label, ...request('POST', '/run', asJob, `${JSON.stringify(body)}\n${validData}`) })),
  fc.constantFrom(JSON.stringify(validJob), `${JSON.stringify(validJob)}\n`).map((body) => ({ label: 'a job without its data line', ...request('POST', '/run', asJob, body) })),
  fc.uint8Array({ minLength: 1, maxLength: 512 }).chain((bytes) =>
    fc.constantFrom(RUN_CONTENT_TYPE, 'application/json').map((type) => ({ label: `random bytes as ${type}`, ...request('POST', '/run', { 'content-type': type }, Buffer.from(bytes)) })),
  ),
  // A real job, sent as something it is not.
  fc
    .constantFrom<Record<string, string>>(
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/json' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': RUN_CONTENT_TYPE, 'content-encoding': 'gzip' },
      { 'content-type': RUN_CONTENT_TYPE, 'content-encoding': 'br' },
      {},
    )
    .map((headers) => ({ label: `a job with ${JSON.stringify(headers)}`, ...request('POST', '/run', headers, validBody) })),
  fc.constantFrom('text/plain', 'application/json').map((type) => ({ label: `stdin as ${type}`, ...request('POST', '/stdin', { 'content-type': type }, 'to stdin') })),
  // Past the body limit, said up front or not.
  fc.integer({ min: BODY_LIMIT + 1, max: 4 * BODY_LIMIT }).chain((size) =>
    fc.boolean().map((chunked) => {
      const body = Buffer.alloc(size, 'a');
      if (!chunked) return { label: `${size} bytes`, ...request('POST', '/run', asJob, body) };
      const chunkedBody = Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
      return { label: `${size} bytes chunked`, ...request('POST', '/run', { ...asJob, 'transfer-encoding': 'chunked' }, chunkedBody) };
    }),
  ),
  // Chunking that lies, and garbage in place of HTTP.
  fc.constantFrom('zz\r\n{}\r\n0\r\n\r\n', '5\r\n{}\r\n0\r\n\r\n', '2\r\n{}0\r\n\r\n').map((body) => ({
    label: `chunked ${JSON.stringify(body)}`,
    ...request('POST', '/run', { ...asJob, 'transfer-encoding': 'chunked' }, body),
  })),
  fc.uint8Array({ minLength: 1, maxLength: 256 }).map((bytes) => ({ label: 'garbage', head: '', body: Buffer.from(bytes) })),
  // A real job, cut before its end, or sent a byte at a time and then cut.
  fc.nat().map((n) => {
    const whole = request('POST', '/run', asJob, validBody);
    const total = whole.head.length + whole.body.length;
    return { label: 'cut', ...whole, cutAt: n % total };
  }),
  fc.integer({ min: 1, max: 64 }).map((cutAt) => ({ label: 'slow, then cut', ...request('POST', '/run', asJob, validBody), cutAt, slow: true })),
);

/** Sends one wrong request over its own connection; resolves with the status, or undefined for no answer. */
async function send(socketPath: string, wrong: WrongRequest): Promise<number | undefined> {
  const socket = connect(socketPath);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  const bytes = Buffer.concat([Buffer.from(wrong.head, 'latin1'), wrong.body]);
  const sent = wrong.cutAt ?? bytes.length;
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  if (wrong.slow) {
    for (let i = 0; i < sent && !socket.destroyed; i++) {
      socket.write(bytes.subarray(i, i + 1));
      await nextTurn();
    }
  } else {
    socket.write(bytes.subarray(0, sent));
  }
  if (wrong.cutAt !== undefined) socket.destroy();
  else socket.end();
  await closed;
  const answer = Buffer.concat(chunks).toString('latin1');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return status ? Number(status[1]) : undefined;
}

test('generated wrong requests over raw connections -> each a 4xx or no answer, never run; the real job afterwards runs once', async (t) => {
  const ws = workspace(t);
  await fc.assert(
    fc.asyncProperty(fc.array(wrongRequest, { minLength: 1, maxLength: 6 }), async (wrongs) => {
      const runner = await PythonRunner.start({ pythonPath: PYTHON, runnerPath: RUNNER_PATH, ...ws });
      const app = buildApp(runner, { bodyLimitBytes: BODY_LIMIT });
      const socketPath = join(ws.cwd, `agent-${process.hrtime.bigint()}.sock`);
      await app.listen({ path: socketPath });
      const client = new Client('http://agent', { socketPath });
      try {
        for (const wrong of wrongs) {
          const status = await send(socketPath, wrong);
          if (status !== undefined && (status < 400 || status > 499)) throw new Error(`${wrong.label}: answered ${status}`);
        }
        const health = await client.request({ path: '/health', method: 'GET' });
        const { status } = (await health.body.json()) as { status: string };
        if (status !== 'ready') throw new Error(`a wrong request took the job: health says ${status}`);
        const response = await client.request({ path: '/run', method: 'POST', headers: asJob, body: validBody });
        const body = Buffer.from(await response.body.arrayBuffer());
        if (response.statusCode !== 200) throw new Error(`the real job: ${response.statusCode} ${body}`);
        const { response: report, resultJson } = decodeRunAnswer(body);
        if (report.status !== 'ok' || Buffer.concat(resultJson).toString() !== '42') throw new Error(`the real job: ${body}`);
      } finally {
        runner.kill();
        await client.close();
        await app.close();
      }
    }),
    { numRuns: 25 },
  );
  t.pass();
});

const validReport = new Ajv({ allErrors: true }).compile(reportSchema);

/** Pieces of programs, each ending or misbehaving in its own way. */
const statement = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => `print(${JSON.stringify(s)})`),
  fc.string({ maxLength: 20 }).map((s) => `import sys; sys.stderr.write(${JSON.stringify(s)})`),
  fc.constantFrom(
    'result = data',
    'result = {"n": 1, "s": "\\ud800"}',
    'result = float("nan")',
    'result = object()',
    'result = [1] * 10',
    'raise ValueError("no")',
    'raise SystemExit(3)',
    'import sys; sys.exit("bye")',
    'import os; os._exit(7)',
    'import os, signal; os.kill(os.getpid(), signal.SIGKILL)',
    'import os; os.write(1, b"\\xff\\xfe half")',
    'import os; os.close(1)',
    'import sys; sys.stdout = None',
    'x = input()',
    'print("y" * 300000)',
    'while True: pass',
    'import time; time.sleep(5)',
    'def f(): f()\nf()',
    'import threading; threading.Thread(target=lambda: print("thread")).start()',
    '1 +',
    '\tindented',
    'del data',
    'result = data = None',
    '__builtins__ = None',
  ),
);

test('generated programs and data -> the runner reports once, a report the schema accepts, with the status its ending calls for', async (t) => {
  const ws = workspace(t);
  await fc.assert(
    fc.asyncProperty(fc.array(statement, { minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }), async (statements, data) => {
      const runner = await PythonRunner.start({ pythonPath: PYTHON, runnerPath: RUNNER_PATH, ...ws });
      try {
        const request = job({ code: statements.join('\n'), timeoutMs: 1000, cpuTimeMs: 1000, maxOutputBytes: 64 * 1024, stopOnOutputLimit: false });
        const { report, resultJson } = await runner.run(request, [Buffer.from(JSON.stringify(data))], () => {});
        if (!validReport(report)) throw new Error(`not a report: ${JSON.stringify(validReport.errors)} ${JSON.stringify(report).slice(0, 500)}`);
        if (report.status === 'ok' && report.error !== null) throw new Error(`ok with an error: ${JSON.stringify(report.error)}`);
        if (report.status === 'error' && report.error === null && report.exitCode === 0) throw new Error('error with nothing to say why');
        if (report.status === 'timeout' && !report.timedOut && !report.cpuTimeExceeded) throw new Error('timeout without a limit passed');
        if (report.status === 'ok') JSON.parse(Buffer.concat(resultJson).toString('utf8'));
      } finally {
        runner.kill();
      }
    }),
    { numRuns: 40 },
  );
  t.pass();
});
