/**
 * Sessions through the service, with real HTTP (undici) and WebSocket (ws) clients on
 * loopback around a real Sandbox: the routes, the binding of an id to its token, the
 * WebSocket's live output, the metrics, and the OpenAPI document.
 */
import { once } from 'node:events';
import test, { type ExecutionContext } from 'ava';
import { request } from 'undici';
import WebSocket from 'ws';
import { serve } from '../../service/serve.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';

async function start(t: ExecutionContext) {
  const service = await serve({ host: '127.0.0.1', port: 0, token: [ALICE, BOB], sandbox: { poolSize: 1 }, logger: false });
  t.teardown(() => service.stop());
  return service;
}

async function call(url: string, method: 'POST' | 'DELETE' | 'GET', token: string, body?: unknown) {
  const response = await request(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: (text === '' ? null : JSON.parse(text)) as Record<string, unknown> & { value?: Record<string, unknown> } };
}

test('open, run cells that share state, interrupt nothing, close -> 204; then the id is gone', async (t) => {
  const { address } = await start(t);
  const opened = await call(`${address}/v1/sessions`, 'POST', ALICE, { files: { 'a.txt': 'x' } });
  t.is(opened.status, 200);
  const id = opened.body.id as string;
  t.regex(id, /^[0-9a-f]{32}$/);
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: 'n = len(open("a.txt").read())' }), { status: 200, body: { status: 'ok', sessionEnded: false, value: null } });
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: 'n + 41' }), { status: 200, body: { value: { json: 42, repr: '42' } } });
  t.is((await call(`${address}/v1/sessions/${id}/interrupt`, 'POST', ALICE)).status, 204);
  const metrics = await request(`${address}/metrics`, { headers: { authorization: `Bearer ${ALICE}` } }).then((r) => r.body.text());
  t.regex(metrics, /warmbox_sessions_open 1/);
  t.regex(metrics, /warmbox_session_cells_total\{status="ok"\} 2/);
  t.is((await call(`${address}/v1/sessions/${id}`, 'DELETE', ALICE)).status, 204);
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: '1' }), { status: 404, body: { code: 'WARMBOX_ERR_SESSION_NOT_FOUND' } });
  const after = await request(`${address}/metrics`, { headers: { authorization: `Bearer ${ALICE}` } }).then((r) => r.body.text());
  t.regex(after, /warmbox_sessions_ended_total\{reason="closed"\} 1/);
});

test("another token -> 404 on every route of the session, as if it did not exist; no token -> 401", async (t) => {
  const { address } = await start(t);
  const id = (await call(`${address}/v1/sessions`, 'POST', ALICE, {})).body.id as string;
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', BOB, { code: '1' }), { status: 404, body: { code: 'WARMBOX_ERR_SESSION_NOT_FOUND' } });
  t.is((await call(`${address}/v1/sessions/${id}/interrupt`, 'POST', BOB)).status, 404);
  t.is((await call(`${address}/v1/sessions/${id}`, 'DELETE', BOB)).status, 404);
  t.is((await call(`${address}/v1/sessions/${id}/run`, 'POST', 'wrong', { code: '1' })).status, 401);
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: '1' }), { status: 200, body: { value: { json: 1 } } });
});

test('a session that ended answers 410 with why; bad options and cells -> 400 naming the field', async (t) => {
  const { address } = await start(t);
  t.like(await call(`${address}/v1/sessions`, 'POST', ALICE, { idleTimeoutMs: 0 }), { status: 400, body: { code: 'WARMBOX_ERR_INVALID_ARGUMENT' } });
  const id = (await call(`${address}/v1/sessions`, 'POST', ALICE, {})).body.id as string;
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: 1 }), { status: 400, body: { code: 'WARMBOX_ERR_INVALID_ARGUMENT' } });
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: 'import sys\nsys.exit(2)' }), { status: 200, body: { exitCode: 2, sessionEnded: true } });
  t.like(await call(`${address}/v1/sessions/${id}/run`, 'POST', ALICE, { code: '1' }), { status: 410, body: { code: 'WARMBOX_ERR_SESSION_ENDED', reason: 'exit' } });
});

test('the WebSocket of a session: cells in order with live output, an interrupt, then the state is still there', async (t) => {
  const { address } = await start(t);
  const id = (await call(`${address}/v1/sessions`, 'POST', ALICE, {})).body.id as string;
  const socket = new WebSocket(`${address.replace('http', 'ws')}/v1/sessions/${id}/ws`, { headers: { authorization: `Bearer ${ALICE}` } });
  t.teardown(() => socket.close());
  await once(socket, 'open');
  const messages: Array<{ type: string; data?: string; result?: Record<string, unknown> }> = [];
  const results: Array<Record<string, unknown>> = [];
  let onResult: (() => void) | undefined;
  let printed = '';
  let interrupted = false;
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as (typeof messages)[number];
    messages.push(message);
    // Once the sleeping cell has printed (print writes "go" and "\n" apart), it is interrupted.
    if (message.type === 'stdout') printed += message.data!;
    if (!interrupted && printed.endsWith('go\n')) {
      interrupted = true;
      socket.send(JSON.stringify({ type: 'interrupt' }));
    }
    if (message.type === 'result') {
      results.push(message.result!);
      onResult?.();
    }
  });
  const resultCount = (n: number) => new Promise<void>((resolve) => (onResult = () => results.length >= n && resolve()));
  const two = resultCount(2);
  socket.send(JSON.stringify({ type: 'run', cell: { code: 'kept = 5\nprint("hello")' } }));
  socket.send(JSON.stringify({ type: 'run', cell: { code: 'import time\nprint("go", flush=True)\ntime.sleep(60)' } }));
  await two;
  t.like(results[0], { status: 'ok', stdout: 'hello\n' });
  t.like(results[1], { status: 'error', error: { type: 'KeyboardInterrupt' }, sessionEnded: false });
  // Live, before its result, in the pieces the program wrote (print writes the text, then the newline).
  const beforeFirstResult = messages.slice(0, messages.findIndex((m) => m.type === 'result'));
  t.is(beforeFirstResult.filter((m) => m.type === 'stdout').map((m) => m.data).join(''), 'hello\n', 'the output came live, before its result');
  const three = resultCount(3);
  socket.send(JSON.stringify({ type: 'run', cell: { code: 'kept * 2' } }));
  await three;
  t.like(results[2], { value: { json: 10 } });
});

test('OpenAPI lists the session routes', async (t) => {
  const { address } = await start(t);
  const document = (await call(`${address}/openapi.json`, 'GET', ALICE)).body as { paths: Record<string, unknown> };
  for (const path of ['/v1/sessions', '/v1/sessions/{id}/run', '/v1/sessions/{id}/interrupt', '/v1/sessions/{id}']) t.truthy(document.paths[path], path);
});
