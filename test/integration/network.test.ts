/**
 * Network on purpose, with real clients inside real containers (urllib, http.client, ssl,
 * sockets) and real servers on this machine's loopback, reached under names the sandbox's
 * `resolve` pins to 127.0.0.1. Nothing here sends a packet anywhere else: inside, a container
 * has only `lo`, which each test that looks for a way out asserts first.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import type { EgressRecord } from '../../contract/egress.js';
import { InvalidArgumentError, type SandboxOptions } from '../../pool/index.js';
import { openSandbox } from '../helpers/sandbox.js';
import { onLoopback } from '../helpers/loopback.js';
import { requireDataImage } from '../helpers/set-up.js';

const run = promisify(execFile);

interface Servers {
  readonly http: number;
  readonly https: number;
  readonly tcp: number;
  readonly ca: string;
  /** The headers of each plain request the HTTP server answered. */
  readonly seen: IncomingHttpHeaders[];
  /** Resolves once the TCP server's first connection has closed. */
  readonly tcpClosed: Promise<void>;
}

let servers: Servers;
const closers: Array<() => void> = [];

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-egress-'));
  // A certificate for tls.test, self-signed: the program trusts it as its CA, passed as a file.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tls.test', '-addext', 'subjectAltName=DNS:tls.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
  await rm(dir, { recursive: true, force: true });
  const seen: IncomingHttpHeaders[] = [];
  const http = createHttpServer((request, response) => {
    seen.push(request.headers);
    const size = Number(new URL(request.url!, 'http://x').searchParams.get('bytes') ?? 0);
    response.end(size > 0 ? 'x'.repeat(size) : `hello from ${request.headers.host}`);
  });
  const https = createHttpsServer({ key, cert }, (_request, response) => response.end('hello over tls'));
  let tcpClosed!: () => void;
  const tcp = createTcpServer((socket: Socket) => {
    socket.write('open\n');
    socket.on('error', () => {});
    socket.once('close', () => tcpClosed());
  });
  const listen = (server: Server | ReturnType<typeof createTcpServer>) => onLoopback(server, (close) => closers.push(close));
  servers = {
    http: await listen(http),
    https: await listen(https),
    tcp: await listen(tcp),
    ca: cert.toString(),
    seen,
    tcpClosed: new Promise((resolve) => (tcpClosed = resolve)),
  };
});

test.after.always(() => {
  for (const close of closers) close();
});

/**
 * A connection the program finished with ends `closed`, or `job-ended` when the job's result
 * came back before its close had crossed the relay (which closes with the job, on gVisor more
 * slowly): either way, allowed and over.
 */
function over(t: ExecutionContext, record: EgressRecord | undefined, expected: Partial<EgressRecord>): void {
  t.like(record, { ...expected, allowed: true });
  t.true(record?.reason === 'closed' || record?.reason === 'job-ended', record?.reason);
}

/** A sandbox whose ceiling is the test servers, under names pinned to 127.0.0.1. */
function networked(t: ExecutionContext, network: Partial<NonNullable<SandboxOptions['network']>> = {}) {
  return openSandbox(t, {
    poolSize: 1,
    network: {
      allow: [`api.test:${servers.http}`, `tls.test:${servers.https}`, `raw.test:${servers.tcp}`, `other.test:${servers.http}`, `localhost:${servers.http}`],
      resolve: { 'api.test': '127.0.0.1', 'tls.test': '127.0.0.1', 'raw.test': '127.0.0.1', 'other.test': '127.0.0.1' },
      ...network,
    },
  });
}

// The kernel's own list of interfaces (netlink), which gVisor gives without a /sys/class/net.
const ONLY_LO = 'import socket\nassert sorted(n for _, n in socket.if_nameindex()) == ["lo"], socket.if_nameindex()\n';

test('a job without network, on a pool whose ceiling allows hosts -> only lo, no proxy variables, nothing reachable, no egress', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run(`${ONLY_LO}
import os, socket, urllib.request
out = {"proxy": [k for k in os.environ if k.lower().endswith("_proxy")]}
for name, attempt in [
    ("proxy port", lambda: socket.create_connection(("127.0.0.1", 3128), timeout=2)),
    ("name", lambda: socket.getaddrinfo("api.test", ${servers.http})),
    ("url", lambda: urllib.request.urlopen("http://api.test:${servers.http}/", timeout=2)),
]:
    try:
        attempt()
        out[name] = "reached"
    except OSError as e:
        out[name] = type(e).__name__
result = out`);
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, { proxy: [], 'proxy port': 'ConnectionRefusedError', name: 'gaierror', url: 'URLError' });
  t.deepEqual(r.egress, []);
});

test('HTTP to an allowed name through the proxy -> the server answers, under that name; the connection is in egress', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run({
    code: `${ONLY_LO}
import urllib.request, http.client
result = [urllib.request.urlopen("http://api.test:${servers.http}/", timeout=10).read().decode()]
conn = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
conn.request("GET", "http://api.test:${servers.http}/again")
result.append(conn.getresponse().read().decode())`,
    network: { allow: [`api.test:${servers.http}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, [`hello from api.test:${servers.http}`, `hello from api.test:${servers.http}`]);
  t.is(r.egress.length, 2);
  for (const record of r.egress) over(t, record, { host: 'api.test', port: servers.http, address: '127.0.0.1' });
  t.true(r.egress.every((record) => record.bytesIn > 0));
});

test('HTTPS to an allowed name -> a CONNECT tunnel; the program verifies the server with the CA it was given', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run({
    code: `${ONLY_LO}
import ssl, urllib.request
context = ssl.create_default_context(cafile="ca.pem")
result = urllib.request.urlopen("https://tls.test:${servers.https}/", context=context, timeout=10).read().decode()`,
    files: { 'ca.pem': servers.ca },
    network: { allow: [`tls.test:${servers.https}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.is(r.result, 'hello over tls');
  t.is(r.egress.length, 1);
  over(t, r.egress[0], { host: 'tls.test', port: servers.https });
});

test('a name the job did not ask for -> 403 from the proxy, refused in egress; so is a name past the pin that resolves to loopback', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run({
    code: `${ONLY_LO}
import urllib.request, urllib.error
result = []
for url in ["http://other.test:${servers.http}/", "http://localhost:${servers.http}/", "http://api.test:${servers.http}/"]:
    try:
        result.append(urllib.request.urlopen(url, timeout=10).status)
    except urllib.error.HTTPError as e:
        result.append([e.code, e.headers["warmbox-egress"]])`,
    network: { allow: [`api.test:${servers.http}`, `localhost:${servers.http}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, [[403, 'not-allowed'], [403, 'private-address'], 200]);
  t.like(r.egress, [
    { host: 'other.test', allowed: false, reason: 'not-allowed', address: null },
    { host: 'localhost', allowed: false, reason: 'private-address', address: '127.0.0.1' },
    { host: 'api.test', allowed: true },
  ]);
});

test('a loopback name is reached when the rules name its range; the range alone reaches the address literal', async (t) => {
  const sandbox = await networked(t, { allow: [`localhost:${servers.http}`, `127.0.0.0/8:${servers.http}`] });
  const r = await sandbox.run({
    code: `import urllib.request
result = [urllib.request.urlopen(u, timeout=10).read().decode() for u in ["http://localhost:${servers.http}/", "http://127.0.0.1:${servers.http}/"]]`,
    network: { allow: [`localhost:${servers.http}`, `127.0.0.0/8:${servers.http}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, [`hello from localhost:${servers.http}`, `hello from 127.0.0.1:${servers.http}`]);
});

test('fails closed: with network, a raw socket to the host, UDP, a DNS query and a name lookup all fail; only the proxy port answers', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run({
    code: `${ONLY_LO}
import socket
out = {}
def attempt(name, f):
    try:
        f()
        out[name] = "reached"
    except OSError as e:
        out[name] = type(e).__name__
# The host's test server is on the host's loopback, not the container's.
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", ${servers.tcp}), timeout=2))
# A documentation address (TEST-NET-1): with only lo there is no route, so nothing leaves.
attempt("tcp out", lambda: socket.create_connection(("192.0.2.10", 443), timeout=2))
attempt("udp dns", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"\\x00" * 12, ("192.0.2.53", 53)))
attempt("quic", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"\\x00" * 12, ("192.0.2.10", 443)))
attempt("lookup", lambda: socket.getaddrinfo("raw.test", ${servers.tcp}))
attempt("proxy", lambda: socket.create_connection(("127.0.0.1", 3128), timeout=2).close())
result = out`,
    network: { allow: [`raw.test:${servers.tcp}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.like(r.result, { tcp: 'ConnectionRefusedError', lookup: 'gaierror', proxy: 'reached' });
  const result = r.result as Record<string, string>;
  for (const way of ['tcp out', 'udp dns', 'quic']) t.not(result[way], 'reached', way);
});

test('a job that asks past the ceiling, or for network where the sandbox allows none -> InvalidArgumentError naming the rule, before any container', async (t) => {
  const sandbox = await networked(t);
  const error = await t.throwsAsync(sandbox.run({ code: '', network: { allow: [`api.test:${servers.http}`, 'evil.example'] } }), { instanceOf: InvalidArgumentError });
  t.is(error?.field, 'job.network.allow[1]');
  await t.throwsAsync(sandbox.run({ code: '', network: { allow: ['api.test:notaport'] } }), { instanceOf: InvalidArgumentError, message: /^job\.network\.allow\[0\]/ });
  const closed = await openSandbox(t, { poolSize: 1 });
  const refused = await t.throwsAsync(closed.run({ code: '', network: { allow: ['api.test'] } }), { instanceOf: InvalidArgumentError });
  t.is(refused?.field, 'job.network.allow');
  t.like(closed.stats(), { busy: 0, warm: 1 });
});

test('caps: past maxConnections a connection is refused; past maxBytesIn it is cut; each says so in egress', async (t) => {
  const sandbox = await networked(t, { maxConnections: 2, maxBytesIn: 100_000 });
  const r = await sandbox.run({
    code: `import urllib.request, urllib.error, http.client
result = []
try:
    result.append(len(urllib.request.urlopen("http://api.test:${servers.http}/?bytes=1000000", timeout=10).read()))
except (http.client.IncompleteRead, OSError) as e:
    result.append(type(e).__name__)
result.append(urllib.request.urlopen("http://api.test:${servers.http}/", timeout=10).status)
try:
    urllib.request.urlopen("http://api.test:${servers.http}/", timeout=10)
except urllib.error.HTTPError as e:
    result.append([e.code, e.headers["warmbox-egress"]])`,
    network: { allow: [`api.test:${servers.http}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.not((r.result as unknown[])[0], 1_000_000);
  t.deepEqual((r.result as unknown[]).slice(1), [200, [403, 'max-connections']]);
  t.like(r.egress, [{ allowed: true, reason: 'max-bytes-in' }, { allowed: true }, { allowed: false, reason: 'max-connections' }]);
  over(t, r.egress[1], {});
});

test('the job ends -> its open connections are cut, a daemon child\'s tunnel too', async (t) => {
  const sandbox = await networked(t);
  const r = await sandbox.run({
    code: `import subprocess, sys
# A child in a session of its own holds a tunnel open, and outlives the main process.
child = subprocess.Popen([sys.executable, "-c", """
import http.client, time
c = http.client.HTTPConnection("127.0.0.1", 3128)
c.set_tunnel("raw.test", ${servers.tcp})
c.connect()
print("holding", flush=True)
time.sleep(300)
"""], stdout=subprocess.PIPE, text=True, start_new_session=True)
print(child.stdout.readline().strip())`,
    network: { allow: [`raw.test:${servers.tcp}`] },
    timeoutMs: 20_000,
  });
  t.is(r.status, 'ok', r.stderr);
  t.is(r.stdout, 'holding\n');
  // The host's server hears its end of the tunnel close: the job's end cut it.
  await servers.tcpClosed;
  t.like(r.egress, [{ host: 'raw.test', port: servers.tcp, allowed: true }]);
});

test('a session with network: each cell reaches what the session asked for and reports its own connections, cut when the cell ends', async (t) => {
  const sandbox = await networked(t);
  const session = await sandbox.session({ network: { allow: [`api.test:${servers.http}`] } });
  t.teardown(() => session.close());
  const fetch = `import urllib.request\nurllib.request.urlopen("http://api.test:${servers.http}/").read().decode()`;
  const first = await session.run(fetch);
  t.like(first, { status: 'ok', value: { json: `hello from api.test:${servers.http}` } });
  t.like(first.egress, [{ host: 'api.test', allowed: true }]);
  const quiet = await session.run('1 + 1');
  t.deepEqual(quiet.egress, []);
  const refused = await session.run(`import urllib.request, urllib.error\ntry:\n    urllib.request.urlopen("http://other.test:${servers.http}/")\nexcept urllib.error.HTTPError as e:\n    code = e.code\ncode`);
  t.like(refused, { value: { json: 403 } });
  t.like(refused.egress, [{ host: 'other.test', allowed: false, reason: 'not-allowed' }]);
  const error = await t.throwsAsync(sandbox.session({ network: { allow: ['evil.example'] } }), { instanceOf: InvalidArgumentError });
  t.is(error?.field, 'options.network.allow[0]');
});

test('secrets: the proxy adds the header on the way to the host, over HTTPS the program verifies; the program finds the value nowhere', async (t) => {
  const token = `Bearer s3cret-${process.pid}-${Date.now()}`;
  const seen: Array<string | undefined> = [];
  const { createServer: createSecretServer } = await import('node:https');
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-secret-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=secret.test', '-addext', 'subjectAltName=DNS:secret.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
  await rm(dir, { recursive: true, force: true });
  const server = createSecretServer({ key, cert }, (request, response) => {
    seen.push(request.headers.authorization);
    response.end('authorised');
  });
  const port = await onLoopback(server, t.teardown.bind(t));
  const sandbox = await openSandbox(t, {
    poolSize: 1,
    network: { allow: [`secret.test:${port}`], resolve: { 'secret.test': '127.0.0.1' }, secrets: { [`secret.test:${port}`]: { Authorization: token } }, ca: cert.toString() },
  });
  const r = await sandbox.run({
    code: `${ONLY_LO}
import os, glob, urllib.request
answer = urllib.request.urlopen("https://secret.test:${port}/").read().decode()
# Built from two pieces, so that this program's own source does not hold it.
needle = (${JSON.stringify(token.split(' ')[1]!.slice(0, 4))} + ${JSON.stringify(token.split(' ')[1]!.slice(4))}).encode()
found = [k for k, v in os.environ.items() if needle.decode() in v]
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline") + glob.glob("/work/**", recursive=True) + glob.glob("/tmp/**", recursive=True):
    try:
        with open(path, "rb") as f:
            if needle in f.read():
                found.append(path)
    except OSError:
        pass
result = {"answer": answer, "found": found}`,
    network: { allow: [`secret.test:${port}`] },
  });
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, { answer: 'authorised', found: [] });
  t.deepEqual(seen, [token]);
  t.is(r.egress.length, 1);
  over(t, r.egress[0], { host: 'secret.test', port });
});

/** A wheel made by hand with Debian's python3 (a module, its dist-info, a RECORD of hashes): what `pip` installs. */
async function probeWheel(): Promise<{ name: string; bytes: Buffer; sha256: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-wheel-'));
  const name = 'warmbox_egress_probe-1.0-py3-none-any.whl';
  await run('/usr/bin/python3', ['-c', `
import base64, hashlib, sys, zipfile
files = {
    "warmbox_egress_probe/__init__.py": b"VALUE = 'installed through the proxy'\\n",
    "warmbox_egress_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: warmbox-egress-probe\\nVersion: 1.0\\n",
    "warmbox_egress_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: hand\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(c).digest()).rstrip(b'=').decode()},{len(c)}\\n" for p, c in files.items())
record += "warmbox_egress_probe-1.0.dist-info/RECORD,,\\n"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for p, c in files.items():
        z.writestr(p, c)
    z.writestr("warmbox_egress_probe-1.0.dist-info/RECORD", record)
`, join(dir, name)]);
  const bytes = await readFile(join(dir, name));
  await rm(dir, { recursive: true, force: true });
  const { createHash } = await import('node:crypto');
  return { name, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

test('the data image: pip installs a wheel from a simple index on loopback through the proxy, and it imports; requests reaches an allowed host', async (t) => {
  const image = await requireDataImage();
  const wheel = await probeWheel();
  const index = createHttpServer((request, response) => {
    if (request.url === '/simple/warmbox-egress-probe/') {
      response.setHeader('content-type', 'text/html');
      return response.end(`<html><body><a href="/files/${wheel.name}#sha256=${wheel.sha256}">${wheel.name}</a></body></html>`);
    }
    if (request.url === `/files/${wheel.name}`) return response.end(wheel.bytes);
    response.statusCode = 404;
    response.end();
  });
  const port = await onLoopback(index, t.teardown.bind(t));
  const sandbox = await openSandbox(t, {
    poolSize: 1,
    image,
    memoryLimitMb: 512,
    network: { allow: [`index.test:${port}`, `api.test:${servers.http}`], resolve: { 'index.test': '127.0.0.1', 'api.test': '127.0.0.1' } },
  });
  const r = await sandbox.run({
    code: `${ONLY_LO}
import subprocess, sys, requests
subprocess.run([sys.executable, "-m", "pip", "install", "--index-url", "http://index.test:${port}/simple/", "--target", "/work/lib",
                "--trusted-host", "index.test", "--no-cache-dir", "--disable-pip-version-check", "--break-system-packages", "warmbox-egress-probe"], check=True)
sys.path.insert(0, "/work/lib")
import warmbox_egress_probe
result = [warmbox_egress_probe.VALUE, requests.get("http://api.test:${servers.http}/", timeout=10).text]`,
    network: { allow: [`index.test:${port}`, `api.test:${servers.http}`] },
    timeoutMs: 120_000,
  });
  t.is(r.status, 'ok', r.stderr);
  t.deepEqual(r.result, ['installed through the proxy', `hello from api.test:${servers.http}`]);
  t.true(r.egress.some((record) => record.host === 'index.test' && record.allowed));
});
