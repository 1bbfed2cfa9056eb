/**
 * The MCP server through the official SDK's own Client: over stdio, as a desktop client starts
 * `warmbox mcp`, and over Streamable HTTP at /mcp on `warmbox serve`, behind its token. Real
 * Sandboxes, real containers.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createServer } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { serve } from '../../service/serve.js';
import { requireDataImage } from '../helpers/set-up.js';
import { onLoopback } from '../helpers/loopback.js';

const CLI = `${PACKAGE_ROOT}/dist/cli/warmbox.js`;

/** A client of `warmbox mcp`, started over stdio on the data image (for figures). */
async function stdioClient(t: ExecutionContext): Promise<Client> {
  const client = new Client({ name: 'warmbox-test', version: '1' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--pool', '1', '--image', await requireDataImage(), '--memory-mb', '256'], stderr: 'inherit' }));
  t.teardown(() => client.close());
  return client;
}

const call = async (client: Client, args: Record<string, unknown>) => (await client.callTool({ name: 'run_python', arguments: args })) as CallToolResult;
const texts = (result: CallToolResult) => result.content.filter((item) => item.type === 'text').map((item) => item.text);

test('stdio: the tool is listed with the service\'s job schema; a job runs; a figure comes back as an image; a timeout is a result; a bad argument a tool error naming the field', async (t) => {
  const client = await stdioClient(t);
  const { tools } = await client.listTools();
  t.deepEqual(tools.map((tool) => tool.name), ['run_python', 'python_session_open', 'python_session_run', 'python_session_close']);
  t.deepEqual(Object.keys(tools[0]!.inputSchema.properties ?? {}).sort(), ['code', 'data', 'files', 'network', 'timeoutMs']);
  t.truthy(tools[0]!.outputSchema);

  const ran = await call(client, { code: 'print("hello")\nresult = data + 1', data: 41 });
  t.falsy(ran.isError);
  t.like(ran.structuredContent, { status: 'ok', stdout: 'hello\n', result: 42 });
  t.deepEqual(texts(ran), ['status: ok, exit code 0, ' + texts(ran)[0]!.split(', ').at(-1), 'stdout:\nhello\n', 'result:\n42']);

  const drawn = await call(client, { code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()' });
  const images = drawn.content.filter((item) => item.type === 'image');
  t.is(images.length, 1);
  t.is(images[0]!.mimeType, 'image/png');
  t.true(Buffer.from(images[0]!.data as string, 'base64').subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));

  const slow = await call(client, { code: 'while True: pass', timeoutMs: 500 });
  t.falsy(slow.isError);
  t.like(slow.structuredContent, { status: 'timeout', timedOut: true, isError: true });

  const failing = await call(client, { code: '1 / 0' });
  t.falsy(failing.isError);
  t.like(failing.structuredContent, { status: 'error', error: { type: 'ZeroDivisionError' } });
  t.regex(texts(failing).join('\n'), /ZeroDivisionError: division by zero/);

  const wrong = await call(client, { code: 'print(1)', timeoutMs: '5' });
  t.true(wrong.isError);
  t.regex(texts(wrong)[0]!, /^WARMBOX_ERR_INVALID_ARGUMENT: job\.timeoutMs /);
  const unknown = await call(client, { code: 'print(1)', env: {} });
  t.true(unknown.isError);
  t.regex(texts(unknown)[0]!, /^WARMBOX_ERR_INVALID_ARGUMENT: job /);
});

test('Streamable HTTP at /mcp on warmbox serve: behind the token (a wrong one is refused), the same tool, its jobs counted as the service\'s', async (t) => {
  const token = 'mcp-test-token';
  const service = await serve({ host: '127.0.0.1', port: 0, token: [token, 'other-token'], sandbox: { poolSize: 1 }, logger: false });
  t.teardown(() => service.stop());
  const url = new URL('/mcp', service.address);

  const refused = new Client({ name: 'warmbox-test', version: '1' });
  const error = await t.throwsAsync(refused.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: 'Bearer wrong' } } })));
  t.regex(error!.message, /401/);

  const client = new Client({ name: 'warmbox-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  t.teardown(() => client.close());
  t.deepEqual((await client.listTools()).tools.map((tool) => tool.name), ['run_python', 'python_session_open', 'python_session_run', 'python_session_close']);
  const ran = await call(client, { code: 'result = sum(data)', data: [1, 2, 3], files: { 'a.txt': 'x' } });
  t.like(ran.structuredContent, { status: 'ok', result: 6 });
  const wrong = await call(client, { code: 7 });
  t.true(wrong.isError);
  t.regex(texts(wrong)[0]!, /job\.code/);
  t.regex(await service.metrics.registry.metrics(), /warmbox_jobs_total\{status="ok"\} 1/);

  // A session opened over MCP is the service's, bound to the token: another token's client does not find it.
  const opened = await client.callTool({ name: 'python_session_open', arguments: {} }) as CallToolResult;
  const id = (opened.structuredContent as { session_id: string }).session_id;
  t.like(await client.callTool({ name: 'python_session_run', arguments: { session_id: id, code: 'n = 20' } }), { structuredContent: { status: 'ok' } });
  const stranger = new Client({ name: 'warmbox-test', version: '1' });
  await stranger.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: 'Bearer other-token' } } }));
  t.teardown(() => stranger.close());
  const refusedRun = (await stranger.callTool({ name: 'python_session_run', arguments: { session_id: id, code: 'n' } })) as CallToolResult;
  t.true(refusedRun.isError);
  t.regex(texts(refusedRun)[0]!, /^WARMBOX_ERR_SESSION_NOT_FOUND/);
  t.like(await client.callTool({ name: 'python_session_run', arguments: { session_id: id, code: 'n * 2 + 2' } }), { structuredContent: { value: { json: 42 } } });
  t.regex(await service.metrics.registry.metrics(), /warmbox_session_cells_total\{status="ok"\} 2/);
});

test("stdio sessions: data loaded in one call is there in the next; a table's value as HTML text, a figure's as an image; closed, the id is gone", async (t) => {
  const client = await stdioClient(t);
  const session = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  const opened = await session('python_session_open', { files: { 'nums.csv': 'n\n1\n2\n3\n' }, preload: ['pandas'] });
  t.falsy(opened.isError);
  const id = (opened.structuredContent as { session_id: string }).session_id;
  t.like((await session('python_session_run', { session_id: id, code: 'import pandas as pd\nframe = pd.read_csv("nums.csv")' })).structuredContent, { status: 'ok' });
  const table = await session('python_session_run', { session_id: id, code: 'frame.describe()' });
  t.regex(texts(table).join('\n'), /^value:\n<div>[\s\S]*<table/m);
  const figure = await session('python_session_run', { session_id: id, code: 'import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot(frame["n"])\nfig' });
  t.true(figure.content.some((item) => item.type === 'image'), 'the figure value comes as an image');
  t.like((await session('python_session_run', { session_id: id, code: 'int(frame.n.sum())' })).structuredContent, { value: { json: 6 } });
  t.falsy((await session('python_session_close', { session_id: id })).isError);
  const gone = await session('python_session_run', { session_id: id, code: '1' });
  t.true(gone.isError);
  t.regex(texts(gone)[0]!, /^WARMBOX_ERR_SESSION_NOT_FOUND/);
  const wrong = await session('python_session_run', { code: '1' });
  t.true(wrong.isError);
  t.regex(texts(wrong)[0]!, /^WARMBOX_ERR_INVALID_ARGUMENT: job\.session_id/);
});

test('stdio with --allow: run_python\'s network reaches what it asks for within it, says what it reached; past it, a tool error naming the rule', async (t) => {
  const api = createServer((_request, response) => response.end('from the api'));
  const port = await onLoopback(api, t.teardown.bind(t));
  const client = new Client({ name: 'warmbox-test', version: '1' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--pool', '1', '--allow', `api.test:${port}`, '--resolve', 'api.test=127.0.0.1'], stderr: 'inherit' }));
  t.teardown(() => client.close());
  const code = `import urllib.request\nresult = urllib.request.urlopen("http://api.test:${port}/").read().decode()`;
  const answer = await call(client, { code, network: { allow: [`api.test:${port}`] } });
  t.like(answer.structuredContent, { status: 'ok', result: 'from the api', egress: [{ host: 'api.test', port, allowed: true }] });
  t.true(texts(answer).some((text) => text.startsWith(`network:\napi.test:${port} allowed`)));
  const refused = await call(client, { code: '', network: { allow: ['evil.example'] } });
  t.true(refused.isError);
  t.regex(texts(refused)[0]!, /^WARMBOX_ERR_INVALID_ARGUMENT: job\.network\.allow\[0\]/);
});
