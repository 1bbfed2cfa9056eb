/**
 * The service through real HTTP (undici) and WebSocket (ws) clients, on loopback, around a
 * real Sandbox: every route, auth, errors, schemas, metrics, readiness, the job log line.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { compileErrors, validate } from '@readme/openapi-parser';
import test, { type ExecutionContext } from 'ava';
import { request } from 'undici';
import WebSocket from 'ws';
import type { SandboxOptions } from '../../pool/index.js';
import { serve, ServeError, type RunningService } from '../../service/serve.js';
import { onLoopback } from '../helpers/loopback.js';

interface Started {
  readonly service: RunningService;
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
}

async function start(t: ExecutionContext, sandbox: SandboxOptions = {}, token?: string): Promise<Started> {
  const logs: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const service = await serve({ host: '127.0.0.1', port: 0, token, sandbox: { poolSize: 1, ...sandbox }, logger: { stream } as never });
  t.teardown(() => service.stop());
  return { service, url: service.address, logs };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await request(`${url}/v1/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.statusCode, headers: response.headers, body: (await response.body.json()) as Record<string, unknown> };
}

test('POST /v1/run -> the RunResult as JSON, files in and out as base64; one log line per job', async (t) => {
  const { url, logs } = await start(t);
  const r = await post(url, { id: 'job-7', code: 'print("hi")\nresult = open("in.bin", "rb").read()[::-1].hex()\nopen("out.txt", "w").write("back")', files: { 'in.bin': { base64: Buffer.from([1, 2]).toString('base64') }, 'note.txt': 'text' }, returnFiles: ['out.txt'] });
  t.is(r.status, 200);
  t.like(r.body, { status: 'ok', stdout: 'hi\n', result: '0201', isError: false, filesTruncated: false, figures: [] });
  t.deepEqual(r.body.files, [{ path: 'out.txt', size: 4, base64: Buffer.from('back').toString('base64') }]);
  const line = logs.find((entry) => entry.msg === 'job');
  t.like(line, { jobId: 'job-7', status: 'ok' });
  t.is(typeof line?.durationMs, 'number');
});

test('a job the schema refuses, or the library refuses -> 400 with the code and the field', async (t) => {
  const { url } = await start(t);
  const cases: Array<[unknown, string]> = [
    [{ code: 1 }, 'job.code'],
    [{ code: '', timeoutMs: 0 }, 'job.timeoutMs'],
    [{ code: '', nope: true }, 'job'],
    [{}, 'job.code'],
    [{ code: '', files: { '/etc/passwd': 'x' } }, 'job.files["/etc/passwd"]'],
    [{ code: '', env: { 'BAD NAME': 'x' } }, 'job.env.BAD NAME'],
  ];
  for (const [body, field] of cases) {
    const r = await post(url, body);
    t.is(r.status, 400, JSON.stringify(body));
    t.like(r.body, { statusCode: 400, code: 'WARMBOX_ERR_INVALID_ARGUMENT', field }, JSON.stringify(body));
  }
});

test('a token set -> 401 without it or with a wrong one, in the Bearer scheme; probes stay open', async (t) => {
  const { url } = await start(t, {}, 's3cret-token');
  const missing = await post(url, { code: 'result = 1' });
  t.is(missing.status, 401);
  t.is(missing.headers['www-authenticate'], 'Bearer');
  t.like(missing.body, { code: 'WARMBOX_ERR_UNAUTHORIZED' });
  t.is((await post(url, { code: 'result = 1' }, { authorization: 'Bearer s3cret-tokeX' })).status, 401);
  t.like((await post(url, { code: 'result = 1' }, { authorization: 'Bearer s3cret-token' })).body, { status: 'ok', result: 1 });
  t.is((await request(`${url}/healthz`)).statusCode, 200);
  t.is((await request(`${url}/readyz`)).statusCode, 200);
  t.is((await request(`${url}/metrics`)).statusCode, 401);
});

test('a non-loopback address without a token -> refused before any container starts', async (t) => {
  const error = await t.throwsAsync(serve({ host: '0.0.0.0', port: 0, sandbox: { poolSize: 1, docker: { socketPath: '/nonexistent.sock' } } }), { instanceOf: ServeError });
  t.regex(error!.message, /without a token/);
});

/** A WebSocket upgrade to /v1/ws with these headers: the job's result, or the status and body it was refused with. */
async function upgrade(url: string, options: WebSocket.ClientOptions): Promise<{ status: number; body: Record<string, unknown> }> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, options);
  return new Promise((resolve, reject) => {
    socket.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
    });
    socket.on('open', () => socket.send(JSON.stringify({ type: 'run', job: { code: 'result = "drive-by ran"' } })));
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { type: string; result?: Record<string, unknown> };
      if (message.type === 'result') resolve({ status: 101, body: message.result! });
    });
    socket.on('error', reject);
  });
}

test('a page of another origin, or a name rebound to the service -> 403 with a typed error, whatever the route; its own page and loopback names pass', async (t) => {
  const { url, service } = await start(t);
  const { port } = new URL(url);
  const driveBy = await upgrade(url, { origin: 'http://evil.example' });
  t.like(driveBy, { status: 403, body: { statusCode: 403, code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' } });
  t.like(await upgrade(url, { origin: 'null' }), { status: 403, body: { code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' } });
  t.like(await post(url, { code: 'result = 1' }, { origin: 'http://evil.example' }), { status: 403, body: { code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' } });
  t.like(await post(url, { code: 'result = 1' }, { host: `evil.example:${port}` }), { status: 403, body: { code: 'WARMBOX_ERR_HOST_NOT_ALLOWED' } });
  t.like(await post(url, { code: 'result = 1' }, { host: `evil.example:${port}`, origin: `http://evil.example:${port}` }), { status: 403, body: { code: 'WARMBOX_ERR_HOST_NOT_ALLOWED' } });
  t.is((await request(`${url}/healthz`, { headers: { host: 'evil.example' } })).statusCode, 403);
  const jobsRun = async () => (await service.metrics.registry.getSingleMetric('warmbox_jobs_total')!.get()).values.reduce((sum, { value }) => sum + value, 0);
  t.is(await jobsRun(), 0, 'no job ran');

  // The service's own page (same host and port), a client with no Origin, and loopback names.
  t.like(await upgrade(url, { origin: url }), { status: 101, body: { status: 'ok', result: 'drive-by ran' } });
  t.like(await post(url, { code: 'result = 2' }, { origin: url }), { status: 200, body: { result: 2 } });
  t.like(await post(url, { code: 'result = 3' }, { host: `localhost:${port}` }), { status: 200, body: { result: 3 } });
  t.like(await post(url, { code: 'result = 4' }, { host: `notebook.localhost:${port}`, origin: `http://notebook.localhost:${port}` }), { status: 200, body: { result: 4 } });
});

test('allowedHosts and allowedOrigins -> those pass too; a token does not lift either check; a malformed entry is refused', async (t) => {
  const logs: unknown[] = [];
  const service = await serve({
    host: '127.0.0.1',
    port: 0,
    token: 'tok',
    sandbox: { poolSize: 1 },
    allowedHosts: ['warmbox.internal', '*.corp.example'],
    allowedOrigins: ['https://ide.example.com'],
    logger: { stream: { write: (line: string) => logs.push(JSON.parse(line)) } } as never,
  });
  t.teardown(() => service.stop());
  const url = service.address;
  const auth = { authorization: 'Bearer tok' };
  t.like(await post(url, { code: 'result = 1' }, { ...auth, host: 'warmbox.internal' }), { status: 200, body: { result: 1 } });
  t.like(await post(url, { code: 'result = 2' }, { ...auth, host: 'a.b.corp.example:8080', origin: 'https://ide.example.com' }), { status: 200, body: { result: 2 } });
  t.like(await post(url, { code: 'result = 3' }, { ...auth, host: 'corp.example' }), { status: 403, body: { code: 'WARMBOX_ERR_HOST_NOT_ALLOWED' } });
  t.like(await post(url, { code: 'result = 4' }, { ...auth, origin: 'https://ide.example.com.evil.example' }), { status: 403, body: { code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' } });
  t.like(await upgrade(url, { origin: 'http://evil.example', headers: auth }), { status: 403, body: { code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' } });
  t.like(await post(url, { code: 'result = 5' }, { host: 'warmbox.internal' }), { status: 401 });
  t.like(logs.find((line) => (line as { msg?: string; code?: string }).msg === 'request refused' && (line as { code?: string }).code === 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED'), { origin: 'https://ide.example.com.evil.example', code: 'WARMBOX_ERR_ORIGIN_NOT_ALLOWED' });

  for (const [option, value] of [['allowedOrigins', 'https://ide.example.com/path'], ['allowedOrigins', 'null'], ['allowedHosts', 'evil.example:80'], ['allowedHosts', '']] as const) {
    await t.throwsAsync(serve({ host: '127.0.0.1', port: 0, sandbox: { poolSize: 1, docker: { socketPath: '/nonexistent.sock' } }, [option]: [value] }), { instanceOf: ServeError }, `${option} ${value}`);
  }
});

test('/readyz -> 503 once every container is busy and the queue is full; 200 again after', async (t) => {
  const { url } = await start(t, { maxQueue: 0 });
  t.is((await request(`${url}/readyz`)).statusCode, 200);
  const socket = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'run', job: { code: 'print("waiting", flush=True)\ninput()', timeoutMs: 60_000 } }));
  await once(socket, 'message');
  const full = await request(`${url}/readyz`);
  t.is(full.statusCode, 503);
  t.like(await full.body.json(), { status: 'full', busy: 1, warm: 0 });
  t.like(await post(url, { code: '' }), { status: 503, body: { code: 'WARMBOX_ERR_QUEUE_FULL' } });
  socket.send(JSON.stringify({ type: 'stdin_end' }));
  await once(socket, 'close');
});

test('/metrics -> jobs by status, run durations, queue, containers by state, start failures and durations', async (t) => {
  const { url } = await start(t);
  await post(url, { code: 'result = 1' });
  await post(url, { code: 'raise ValueError()' });
  const text = await (await request(`${url}/metrics`)).body.text();
  t.regex(text, /^warmbox_jobs_total\{status="ok"\} 1$/m);
  t.regex(text, /^warmbox_jobs_total\{status="error"\} 1$/m);
  t.regex(text, /^warmbox_run_duration_seconds_count 2$/m);
  t.regex(text, /^warmbox_queue_length 0$/m);
  t.regex(text, /^warmbox_containers\{state="warm"\} \d$/m);
  t.regex(text, /^warmbox_containers\{state="starting"\} \d$/m);
  t.regex(text, /^warmbox_container_start_failures_total 0$/m);
  t.regex(text, /^warmbox_container_start_duration_seconds_count [1-9]\d*$/m);
});

test('a service whose pool sizes itself: jobs waiting -> it grows within max; /readyz and /metrics show the target and why it changed', async (t) => {
  const { url } = await start(t, { poolSize: { min: 1, max: 3 }, shrinkAfterMs: 600_000 });
  t.like(await (await request(`${url}/readyz`)).body.json(), { status: 'ready', target: 1, targetReason: 'minimum' });
  const results = await Promise.all(Array.from({ length: 4 }, () => post(url, { code: 'import time\ntime.sleep(0.3)\nresult = 1' })));
  t.true(results.every((r) => r.status === 200 && (r.body as { status: string }).status === 'ok'));
  // It reached its max for the jobs waiting, or for their arrivals, whichever it saw first.
  const ready = (await (await request(`${url}/readyz`)).body.json()) as { target: number; targetReason: string };
  t.is(ready.target, 3);
  t.regex(ready.targetReason, /^(queue|arrivals)$/);
  const text = await (await request(`${url}/metrics`)).body.text();
  t.regex(text, /^warmbox_pool_target 3$/m);
  t.regex(text, new RegExp(`^warmbox_pool_resizes_total\\{reason="${ready.targetReason}"\\} [1-9]\\d*$`, 'm'));
});

test('/openapi.json -> a valid OpenAPI document of the routes (by an independent validator), from the same schemas', async (t) => {
  const { url } = await start(t);
  const text = await (await request(`${url}/openapi.json`)).body.text();
  const validation = await validate(JSON.parse(text) as never);
  t.true(validation.valid, validation.valid ? '' : compileErrors(validation));
  const doc = JSON.parse(text) as {
    openapi: string;
    paths: Record<string, unknown>;
    components: { schemas: Record<string, { properties: Record<string, unknown> }> };
  };
  t.regex(doc.openapi, /^3\./);
  // The WebSocket route is README's to describe: OpenAPI 3.0 has no way to.
  for (const path of ['/v1/run', '/mcp', '/healthz', '/readyz', '/metrics']) t.truthy(doc.paths[path], path);
  t.regex(JSON.stringify(doc.paths['/v1/run']), /#\/components\/schemas\/Job/);
  t.truthy(doc.components.schemas.Job?.properties.code);
  t.truthy(doc.components.schemas.RunResult?.properties.status);
});

test('WebSocket /v1/ws -> live output, stdin answered mid-run, then the result; a bad first message is an error', async (t) => {
  const { url } = await start(t);
  const socket = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
  const messages: Array<{ type: string; data?: string; result?: Record<string, unknown> }> = [];
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as (typeof messages)[number];
    messages.push(message);
    if (message.type === 'stdout' && message.data?.includes('name?')) socket.send(JSON.stringify({ type: 'stdin', data: 'Ada\n' }));
  });
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'run', job: { code: 'name = input("name? ")\nprint("hello", name)\nresult = name' } }));
  const [code] = (await once(socket, 'close')) as [number];
  t.is(code, 1000);
  const result = messages.find((m) => m.type === 'result')?.result;
  t.like(result, { status: 'ok', result: 'Ada', stdout: 'name? hello Ada\n' });
  t.is(messages.filter((m) => m.type === 'stdout').map((m) => m.data).join(''), 'name? hello Ada\n');

  const bad = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
  await once(bad, 'open');
  bad.send('{"type":"stdin","data":"x"}');
  const [error] = (await once(bad, 'message')) as [Buffer];
  t.like(JSON.parse(error.toString()), { type: 'error', error: { code: 'WARMBOX_ERR_INVALID_ARGUMENT', field: 'type' } });
});

test('--token-file -> the token is the file\'s content, trimmed; an empty file is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'token'), 'from-a-file\n');
  await writeFile(join(dir, 'empty'), '\n');
  const service = await serve({ host: '127.0.0.1', port: 0, tokenFile: join(dir, 'token'), sandbox: { poolSize: 1 }, logger: false });
  t.teardown(() => service.stop());
  t.is((await post(service.address, { code: '' })).status, 401);
  t.like((await post(service.address, { code: 'result = 2' }, { authorization: 'Bearer from-a-file' })).body, { result: 2 });
  await t.throwsAsync(serve({ host: '127.0.0.1', port: 0, tokenFile: join(dir, 'empty'), sandbox: {} }), { instanceOf: ServeError, message: /empty/ });
});

test('a job with network through the service -> its egress in the JSON, counted in /metrics by decision, logged; past the operator\'s ceiling -> 400 naming the rule', async (t) => {
  const api = createServer((_request, response) => response.end('hi'));
  const port = await onLoopback(api, t.teardown.bind(t));
  const { url, logs } = await start(t, { network: { allow: [`api.test:${port}`], resolve: { 'api.test': '127.0.0.1' } } });
  const code = `import urllib.request\nresult = urllib.request.urlopen("http://api.test:${port}/").read().decode()`;
  const r = await post(url, { code, network: { allow: [`api.test:${port}`] } });
  t.like(r.body, { status: 'ok', result: 'hi' });
  // closed, or job-ended if the result came back before the close crossed the relay
  t.like((r.body.egress as unknown[])[0], { host: 'api.test', port, address: '127.0.0.1', allowed: true });
  const metrics = await (await request(`${url}/metrics`)).body.text();
  t.regex(metrics, /^warmbox_egress_connections_total\{decision="allowed",reason="(closed|job-ended)"\} 1$/m);
  t.like(logs.find((line) => line.msg === 'job' && line.egress !== undefined), { egress: [{ host: 'api.test', allowed: true }] });
  t.like(await post(url, { code: '', network: { allow: ['pypi.org'] } }), { status: 400, body: { code: 'WARMBOX_ERR_INVALID_ARGUMENT', field: 'job.network.allow[0]' } });
});
