/**
 * RemoteSandbox against a real `warmbox serve` on loopback: the same run(), results and typed
 * errors as Sandbox, live output and stdin over the WebSocket, and a job id that never runs a
 * program twice.
 */
import { PassThrough } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { request } from 'undici';
import { AbortError, InvalidArgumentError, QueueFullError, RemoteError, SessionEndedError, UnauthorizedError, type SandboxOptions } from '../../pool/index.js';
import { RemoteSandbox } from '../../remote/remote-sandbox.js';
import { serve } from '../../service/serve.js';
import { freePort } from '../helpers/serve-process.js';

async function start(t: ExecutionContext, sandbox: SandboxOptions = {}, token?: string) {
  const service = await serve({ host: '127.0.0.1', port: 0, token, sandbox: { poolSize: 1, ...sandbox }, logger: false });
  t.teardown(() => service.stop());
  const remote = new RemoteSandbox({ url: service.address, token });
  t.teardown(() => remote.close());
  return { service, remote };
}

test('run() over POST /v1/run -> the same result as Sandbox: data, files in as bytes, files out as Buffers', async (t) => {
  const { remote } = await start(t);
  const r = await remote.run({
    code: 'print("hi")\nresult = sum(data) + len(open("in.bin", "rb").read())\nopen("out.txt", "w").write("back")',
    data: [1, 2],
    files: { 'in.bin': new Uint8Array([1, 2, 3]) },
    returnFiles: ['out.txt'],
  });
  t.like(r, { status: 'ok', stdout: 'hi\n', result: 6, isError: false });
  t.deepEqual(r.files.map((f) => [f.path, f.size, f.data.toString()]), [['out.txt', 4, 'back']]);
  t.true(Buffer.isBuffer(r.files[0]!.data));
});

test("a job that sets no timeoutMs -> waited for by the service's own default (--timeout-ms), not a guess of the client's", async (t) => {
  // The service's default is 20 s; the client's grace is 100 ms. A client that assumed the
  // library's 10 s default would give up at 10.1 s on a job that runs 10.5 s.
  const { service } = await start(t, { timeoutMs: 20_000 });
  const remote = new RemoteSandbox({ url: service.address, graceMs: 100 });
  t.teardown(() => remote.close());
  const r = await remote.run({ code: 'import time\ntime.sleep(10.5)\nresult = "slept"' });
  t.like(r, { status: 'ok', result: 'slept' });
});

test('live output and a stdin stream -> over the WebSocket, answered mid-run', async (t) => {
  const { remote } = await start(t);
  const stdin = new PassThrough();
  let heard = '';
  const r = await remote.run({ code: 'name = input("name? ")\nprint("hello", name)', stdin, timeoutMs: 30_000 }, {
    onStdout: (chunk) => {
      heard += chunk;
      if (heard.includes('name? ')) stdin.end('Ada\n');
    },
  });
  t.like(r, { status: 'ok', stdout: 'name? hello Ada\n' });
  t.is(heard, r.stdout);
});

test('the same job id twice -> one run: the repeat gets the first result and says so', async (t) => {
  const { service, remote } = await start(t);
  const job = { id: 'order-1', code: 'import random\nresult = random.random()' };
  const [first, second] = await Promise.all([remote.run(job), remote.run(job)]);
  const third = await remote.run(job);
  t.is(first.result, second.result);
  t.is(first.result, third.result);
  t.deepEqual([first.replayed, second.replayed, third.replayed].filter(Boolean), [true, true]);
  const metrics = await (await request(`${service.address}/metrics`)).body.text();
  t.regex(metrics, /^warmbox_jobs_total\{status="ok"\} 1$/m);
});

test('the service\'s errors -> the library\'s classes, with the field; the queue full is QueueFullError', async (t) => {
  const { remote } = await start(t, { maxQueue: 0 });
  const invalid = await t.throwsAsync(remote.run({ code: '', files: { '../x': 'y' } }), { instanceOf: InvalidArgumentError });
  t.is(invalid?.field, 'job.files["../x"]');
  const stdin = new PassThrough();
  let heard = '';
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const held = remote.run({ code: 'print("holding", flush=True)\ninput()', stdin, timeoutMs: 30_000 }, {
    onStdout: (chunk) => {
      heard += chunk;
      if (heard.includes('holding')) started();
    },
  });
  await running;
  await t.throwsAsync(remote.run('result = 1'), { instanceOf: QueueFullError, code: 'WARMBOX_ERR_QUEUE_FULL' });
  stdin.end('\n');
  t.like(await held, { status: 'ok' });
});

test('a wrong token -> UnauthorizedError; no service at the address -> RemoteError, not a hang', async (t) => {
  const { service } = await start(t, {}, 'right');
  const wrong = new RemoteSandbox({ url: service.address, token: 'wrong' });
  t.teardown(() => wrong.close());
  await t.throwsAsync(wrong.run('result = 1'), { instanceOf: UnauthorizedError, code: 'WARMBOX_ERR_UNAUTHORIZED' });
  // A port that was free a moment ago: nothing listens there.
  const port = await freePort();
  const nowhere = new RemoteSandbox({ url: `http://127.0.0.1:${port}` });
  t.teardown(() => nowhere.close());
  await t.throwsAsync(nowhere.run('result = 1'), { instanceOf: RemoteError, message: /did not answer/ });
});

/**
 * A fake service, for faults the real one cannot be made to show: a WebSocket endpoint that
 * takes the job and then does `behave` with the socket.
 */
async function fakeService(t: ExecutionContext, behave: (socket: import('ws').WebSocket) => void): Promise<string> {
  const { WebSocketServer } = await import('ws');
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/ws' });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (socket) => socket.once('message', () => behave(socket)));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('a service that stops answering mid-job over the WebSocket -> RemoteError at the deadline (timeoutMs + graceMs), never a hang', async (t) => {
  const url = await fakeService(t, (socket) => socket.send(JSON.stringify({ type: 'stdout', data: 'started\n' })));
  const remote = new RemoteSandbox({ url, graceMs: 300 });
  t.teardown(() => remote.close());
  const heard: string[] = [];
  // A deadline of 2.3 s: room for the output sent at once to arrive on a loaded machine first
  // (with 0.5 s, a busy CI run once heard the deadline before it).
  const error = await t.throwsAsync(remote.run({ code: 'print(1)', timeoutMs: 2000 }, { onStdout: (chunk) => heard.push(chunk) }), { instanceOf: RemoteError });
  t.regex(error!.message, /no result before the deadline/);
  t.deepEqual(heard, ['started\n']);
});

test('a WebSocket message that is not JSON, or not in the protocol -> RemoteError naming it, not an uncaught exception', async (t) => {
  for (const sent of ['this is not JSON', '{"type":"surprise"}', '{"type":"result"}', '42']) {
    const url = await fakeService(t, (socket) => socket.send(sent));
    const remote = new RemoteSandbox({ url });
    t.teardown(() => remote.close());
    const error = await t.throwsAsync(remote.run('print(1)', { onStdout: () => {} }), { instanceOf: RemoteError });
    t.true(error!.message.startsWith('the service sent a message outside the protocol: ') && error!.message.includes(sent), error!.message);
  }
});

test('session() -> the same sessions as Sandbox: state across cells, values, files as bytes, SessionEndedError with its reason', async (t) => {
  const { remote } = await start(t, {}, 'remote-session-token');
  const s = await remote.session({ files: { 'in.bin': new Uint8Array([7, 8]) } });
  t.regex(s.id, /^[0-9a-f]{32}$/);
  t.like(await s.run('blob = open("in.bin", "rb").read()'), { status: 'ok', value: null, sessionEnded: false });
  t.like(await s.run('sum(blob)'), { value: { json: 15, repr: '15' } });
  await s.interrupt();
  // With a listener, a cell goes over the session's WebSocket: its output heard as it comes.
  const chunks: string[] = [];
  t.like(await s.run('print("live", flush=True)\nblob[0]', { onStdout: (chunk) => chunks.push(chunk) }), { value: { json: 7 } });
  // In the pieces the program wrote them (print writes the text, then the newline).
  t.is(chunks.join(''), 'live\n');
  // An abort interrupts the cell; the session and its state stay.
  const controller = new AbortController();
  const stopped = s.run('import time\nprint("go", flush=True)\ntime.sleep(60)', { onStdout: () => controller.abort(), signal: controller.signal });
  await t.throwsAsync(stopped, { instanceOf: AbortError });
  t.like(await s.run('sum(blob)'), { value: { json: 15 } });
  t.like(await s.run('import sys\nsys.exit(1)'), { exitCode: 1, sessionEnded: true });
  const ended = await t.throwsAsync(s.run('1'), { instanceOf: SessionEndedError });
  t.is(ended.reason, 'exit');
  const other = await remote.session();
  await other.close();
  // Closed, as a local Session is: its next cell says so, without asking the service.
  t.like(await t.throwsAsync(other.run('1'), { instanceOf: SessionEndedError }), { reason: 'closed' });
});
