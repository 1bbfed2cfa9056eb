#!/usr/bin/env node
/**
 * The `warmbox` command, installed with the package: `npx warmbox build-image`.
 * Arguments are parsed with Node's own util.parseArgs: strict, so an unknown option is an error.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { buildImage, buildServiceImage } from '../image/build-image.js';
import { DATA_PACKAGES, PACKAGE_ROOT, warmboxVersion } from '../pool/image.js';
import { diagnose, registerGvisor } from '../host/index.js';
import { DEFAULTS, InvalidArgumentError, Sandbox, WarmboxError, type PythonSandbox, type RunResult, type SandboxOptions } from '../pool/index.js';
import { createMcpServer } from '../mcp/server.js';
import { RemoteSandbox } from '../remote/remote-sandbox.js';
import { serve } from '../service/serve.js';
import { SessionRegistry } from '../wire/index.js';

const USAGE = `Usage: warmbox <command> [options]

Commands:
  run FILE       run a Python file in a fresh sandbox, output live, exit with its exit code
  serve          serve the HTTP and WebSocket API around one warm pool
  mcp            a Model Context Protocol server on stdio, with the run_python tool
  build-image    build the agent image this version of warmbox uses (offline, from Debian)
  doctor         check the engine, cgroups, images and runtimes, each with its fix

Options:
  -h, --help     show help for warmbox or for a command
  -v, --version  print warmbox's version
`;

const BUILD_IMAGE_USAGE = `Usage: warmbox build-image [--packages LIST | --data] [--base IMAGE] [--rebuild]
       warmbox build-image --service [--rebuild]

Builds the image that new Sandbox() uses by default, and first warmbox's base image (Debian
bookworm from debootstrap, with python3 and Node 20; needs root and debootstrap). Skips what
is already built, and prints the agent image's tag.

With --service, builds instead the image of \`warmbox serve\` (deploy/Dockerfile.service), for
a Swarm stack or any engine: this package and its production dependencies from the npm
registry, on the same base. Prints its tag. Each engine the service uses needs the agent
image too.

Options:
  --packages LIST  more Debian packages, comma-separated, e.g.
                   python3-numpy,python3-pandas,python3-matplotlib: an image of its own,
                   whose tag (printed) is what new Sandbox({ image }) takes
  --data           the data image: --packages ${DATA_PACKAGES.join(',')}
  --base IMAGE     build on IMAGE (python3 and Node 20) instead, e.g. node:20-bookworm
  --service      build the service's image rather than the agent's
  --rebuild      build the image even if its tag exists
  -h, --help     show this help
`;

const RUN_USAGE = `Usage: warmbox run FILE [options]

Runs FILE as main.py in a fresh single-use sandbox: its output appears as it is written, this
command's stdin is its stdin, the files it leaves that match --return are written under --out,
and the exit code is the program's own, or:
  124  it hit its time limit          137  it ran out of memory
  125  it passed the output limit     70   the sandbox failed (the message says why)
  128+N  a signal N ended it          2    a mistake on this command line

Options:
  --data JSON         the program's global \`data\`
  --data-file F       the same, read from a JSON file
  --file PATH         a file to put beside main.py, at the same relative path (repeatable)
  --return GLOB       bring back the files that match, relative to /work (repeatable)
  --out DIR           where returned files are written (default: .)
  --timeout-ms N      the wall-clock limit (default ${DEFAULTS.timeoutMs})
  --memory-mb N       the memory limit (default ${DEFAULTS.memoryLimitMb})
  --image IMAGE       the agent image (default: this version's)
  --runtime NAME      the engine's runtime: ${DEFAULTS.runtime} (default), or runsc for gVisor
  --allow-exec        let the program run files it writes (/work and /tmp without noexec)
  --allow HOST        let the program reach HOST through the egress proxy (repeatable): a
                      name, *.domain, address or CIDR range, with an optional :port (443 and
                      80 without); every connection is reported on stderr
  --resolve NAME=ADDR pin NAME to ADDR for --allow, as curl's --resolve (repeatable)
  --remote URL        run it on the warmbox serve at URL (token: WARMBOX_TOKEN) rather than
                      on a local pool; --timeout-ms goes with the job, the other options above
                      are the service's own
  -h, --help          show this help
`;

const SERVE_USAGE = `Usage: warmbox serve [options]

Serves POST /v1/run, the WebSocket /v1/ws, /healthz, /readyz, /metrics and /openapi.json
around one warm pool, until SIGTERM or SIGINT; then it drains: no new jobs, running ones
finish, every container is removed. A bearer token comes from WARMBOX_TOKEN or --token-file;
without one it listens on a loopback address only.

Options:
  --host H            the address to listen on (default 127.0.0.1)
  --port P            the port (default 8080; 0 picks a free one)
  --pool N            containers kept warm (default ${DEFAULTS.poolSize})
  --pool-min N --pool-max N
                      a pool that sizes itself: N warm at least, growing to --pool-max when
                      jobs wait or arrive faster than containers are replaced
  --shrink-after-ms N how long it must want fewer before it shrinks (default ${DEFAULTS.shrinkAfterMs})
  --max-queue N       jobs that may wait (default ${DEFAULTS.maxQueue})
  --memory-mb N       each program's memory limit (default ${DEFAULTS.memoryLimitMb})
  --max-job-memory-mb N  the most a job's own memoryLimitMb may be (default: --memory-mb)
  --timeout-ms N      a job's default wall-clock limit (default ${DEFAULTS.timeoutMs})
  --image IMAGE       the agent image (default: this version's)
  --runtime NAME      the engine's runtime: ${DEFAULTS.runtime} (default), or runsc for gVisor
  --allow-exec        let programs run files they write (/work and /tmp without noexec)
  --preload LIST      modules to import before a container is warm, comma-separated
  --allow HOST        what jobs may ask to reach, through the egress proxy (repeatable): a
                      name, *.domain, address or CIDR range, with an optional :port; a job
                      reaches only what its own network.allow asks for within these
  --resolve NAME=ADDR pin NAME to ADDR for --allow, as curl's --resolve (repeatable)
  --secrets-file F    JSON of host -> headers the egress proxy adds on the way to that host,
                      e.g. {"api.example.com": {"authorization": "Bearer ..."}}; programs never
                      see them (README, Network on purpose)
  --ca-file F         CA certificates (PEM) the proxy trusts for the hosts of --secrets-file
  --token-file F      a file holding the bearer token
  --socket-root DIR   where each pool makes its directory of the agents' sockets (default: the
                      temp dir); in a container that starts its siblings through the Docker
                      socket, a host path mounted at the same path inside
  --allowed-host NAME a name the Host header may carry, besides IP addresses, localhost
                      and --host's name: exact, or *.example.com (repeatable; * for any,
                      behind a proxy that checks Host itself). Others get 403
  --allowed-origin URL  an origin whose pages may open WebSockets and post, besides the
                      service's own page (repeatable). Others get 403
  --demo              serve the example web IDE page at /
  -h, --help          show this help
`;

const DOCTOR_USAGE = `Usage: warmbox doctor [--json] [--fix-runtime NAME]

Checks what warmbox needs of this machine: the Docker engine, its cgroup version, the agent
images, and each runtime the engine has (for gVisor, the flags warmbox needs). Prints one
line per check with its fix; exits 1 if any check failed.

Options:
  --json              print the findings as JSON, for a program to read
  --fix-runtime NAME  register gVisor as the runtime NAME (usually runsc) first: adds it to
                      /etc/docker/daemon.json with --host-uds=all and --network=none, keeping
                      everything else there, and reloads the engine (SIGHUP: running
                      containers go on). Needs root and runsc (apt-get install runsc)
  -h, --help          show this help
`;

/** A mistake on the command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version':
      process.stdout.write(`${warmboxVersion()}\n`);
      return 0;
    case 'build-image':
      return buildImageCommand(rest);
    case 'run':
      return runCommand(rest);
    case 'serve':
      return serveCommand(rest);
    case 'mcp':
      return mcpCommand(rest);
    case 'doctor':
      return doctorCommand(rest);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function buildImageCommand(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      base: { type: 'string' },
      packages: { type: 'string' },
      data: { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
      service: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(BUILD_IMAGE_USAGE);
    return 0;
  }
  if (values.service && (values.base !== undefined || values.packages !== undefined || values.data)) {
    throw new UsageError('--service takes neither --base, --packages nor --data: the service needs no Python packages');
  }
  if (values.data && values.packages !== undefined) throw new UsageError('--data is a list of packages of its own: give it or --packages');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const tag = values.service ? await buildServiceImage({ rebuild: values.rebuild, log }) : await buildImage({
    base: values.base,
    packages: values.data ? DATA_PACKAGES : values.packages?.split(',').filter((name) => name !== ''),
    rebuild: values.rebuild,
    log,
  });
  process.stdout.write(`${tag}\n`);
  return 0;
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      'data-file': { type: 'string' },
      file: { type: 'string', multiple: true, default: [] },
      return: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: '.' },
      ...SANDBOX_FLAGS,
      ...REMOTE_FLAG,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('run takes exactly one FILE');
  if (values.data !== undefined && values['data-file'] !== undefined) throw new UsageError('--data and --data-file are one or the other');
  const code = await readFile(positionals[0]!, 'utf8').catch((error: Error) => {
    throw new UsageError(`cannot read ${positionals[0]}: ${error.message}`);
  });
  const dataText = values.data ?? (values['data-file'] === undefined ? undefined : await readFile(values['data-file'], 'utf8'));
  let data: unknown = null;
  if (dataText !== undefined) {
    try {
      data = JSON.parse(dataText);
    } catch (error) {
      throw new UsageError(`--data${values.data === undefined ? '-file' : ''} is not JSON: ${(error as Error).message}`);
    }
  }
  const files: Record<string, Buffer> = {};
  for (const path of values.file) files[path] = await readFile(path);
  let sandbox: PythonSandbox | undefined;
  try {
    sandbox = sandboxFor(values, { ...(await sandboxOptions(values)), poolSize: 1 });
    await sandbox.initialize();
    const result = await sandbox.run(
      {
        code,
        data,
        files,
        returnFiles: values.return,
        stdin: process.stdin,
        ...integerOption('timeoutMs', values['timeout-ms']),
        ...(values.allow === undefined ? {} : { network: { allow: values.allow } }),
      },
      { onStdout: (chunk) => process.stdout.write(chunk), onStderr: (chunk) => process.stderr.write(chunk) },
    );
    await writeReturned(result, values.out);
    for (const { host, port, address, allowed, reason, bytesOut, bytesIn, ms } of result.egress) {
      process.stderr.write(`warmbox: egress ${host}:${port}${address === null ? '' : ` (${address})`} ${allowed ? 'allowed' : 'refused'}: ${reason}, ${bytesOut} B out, ${bytesIn} B in, ${Math.round(ms)} ms\n`);
    }
    return exitCodeOf(result);
  } catch (error) {
    if (error instanceof WarmboxError) {
      process.stderr.write(`warmbox: ${error.code}: ${error.message}\n`);
      return error instanceof InvalidArgumentError ? 2 : 70;
    }
    throw error;
  } finally {
    process.stdin.destroy();
    await sandbox?.close();
  }
}

/** Writes returned files under `out`, never outside it, whatever path the sandbox reported. */
async function writeReturned(result: RunResult, out: string): Promise<void> {
  const root = resolve(out);
  for (const file of result.files) {
    const target = resolve(root, file.path);
    const inside = relative(root, target);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) throw new Error(`a returned file's path leaves ${out}: ${file.path}`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.data);
  }
  if (result.filesTruncated) process.stderr.write('warmbox: some matching files were left out (limits)\n');
}

/** The program's exit code, or the documented code of how it was stopped. */
export function exitCodeOf(result: RunResult): number {
  if (result.status === 'timeout') return 124;
  if (result.status === 'memory') return 137;
  if (result.status === 'output') return 125;
  if (result.exitCode !== null) return result.exitCode;
  const signal = result.signal === null ? undefined : (constants.signals as Record<string, number>)[result.signal];
  return signal === undefined ? 70 : 128 + signal;
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      ...POOL_FLAGS,
      'max-queue': { type: 'string' },
      ...SANDBOX_FLAGS,
      'max-job-memory-mb': { type: 'string' },
      preload: { type: 'string' },
      'token-file': { type: 'string' },
      'socket-root': { type: 'string' },
      'allowed-host': { type: 'string', multiple: true },
      'allowed-origin': { type: 'string', multiple: true },
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port must be a port number, got ${values.port}`);
  const service = await serve({
    host: values.host,
    port,
    token: process.env.WARMBOX_TOKEN,
    tokenFile: values['token-file'],
    demoDir: values.demo ? join(PACKAGE_ROOT, 'dist', 'web-ide') : undefined,
    allowedHosts: values['allowed-host'],
    allowedOrigins: values['allowed-origin'],
    sandbox: {
      ...(await sandboxOptions(values)),
      ...poolOptions(values),
      ...integerOption('maxQueue', values['max-queue']),
      ...integerOption('maxJobMemoryLimitMb', values['max-job-memory-mb']),
      ...(values['socket-root'] === undefined ? {} : { socketRoot: resolve(values['socket-root']) }),
      ...(values.preload === undefined ? {} : { preload: values.preload.split(',').filter((name) => name !== '') }),
    },
  });
  process.stderr.write(`warmbox serve: listening on ${service.address}\n`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  await service.stop();
  return 0;
}

const MCP_USAGE = `Usage: warmbox mcp [options]

A Model Context Protocol server on stdin and stdout, for a desktop client or an agent
framework to start: the tool run_python, each call run in a fresh container of one warm
pool, and python_session_open, _run and _close, one interpreter kept for many calls. It ends, removing every container, when its stdin closes or on SIGTERM or SIGINT.
(warmbox serve offers the same at /mcp, over Streamable HTTP.)

Options:
  --pool N            containers kept warm (default ${DEFAULTS.poolSize})
  --pool-min N --pool-max N
                      a pool that sizes itself: N warm at least, growing to --pool-max when
                      jobs wait or arrive faster than containers are replaced
  --shrink-after-ms N how long it must want fewer before it shrinks (default ${DEFAULTS.shrinkAfterMs})
  --memory-mb N       each program's memory limit (default ${DEFAULTS.memoryLimitMb})
  --timeout-ms N      a job's default wall-clock limit (default ${DEFAULTS.timeoutMs})
  --image IMAGE       the agent image (default: this version's)
  --runtime NAME      the engine's runtime: ${DEFAULTS.runtime} (default), or runsc for gVisor
  --allow-exec        let programs run files they write (/work and /tmp without noexec)
  --allow HOST        what run_python's network.allow may ask for (repeatable)
  --resolve NAME=ADDR pin NAME to ADDR for --allow (repeatable)
  --remote URL        run the tools on the warmbox serve at URL (token: WARMBOX_TOKEN) rather
                      than on a local pool, whose options above then do not apply
  -h, --help          show this help
`;

async function mcpCommand(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      ...POOL_FLAGS,
      ...SANDBOX_FLAGS,
      ...REMOTE_FLAG,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(MCP_USAGE);
    return 0;
  }
  const sandbox = sandboxFor(values, { ...(await sandboxOptions(values)), ...poolOptions(values) });
  await sandbox.initialize();
  // The stdio client is the only one: its sessions are the registry's one owner's.
  const server = createMcpServer(sandbox, { version: warmboxVersion(), sessions: new SessionRegistry(sandbox).of('stdio') });
  try {
    // stdout is the protocol's: nothing else may write there.
    await server.connect(new StdioServerTransport());
    await new Promise<void>((resolve) => {
      server.onclose = resolve;
      process.stdin.once('end', resolve);
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
    });
  } finally {
    await server.close();
    await sandbox.close();
  }
  return 0;
}

async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      json: { type: 'boolean', default: false },
      'fix-runtime': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(DOCTOR_USAGE);
    return 0;
  }
  if (values['fix-runtime'] !== undefined) {
    const runtime = await registerGvisor({ name: values['fix-runtime'] });
    process.stderr.write(`warmbox doctor: registered ${runtime.name} (${runtime.path} ${runtime.args.join(' ')}) and reloaded the engine\n`);
  }
  const findings = await diagnose();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  } else {
    for (const { check, status, detail, fix } of findings) {
      process.stdout.write(`${status.padEnd(4)}  ${check.padEnd(16)} ${detail}\n${fix === '' ? '' : `      ${''.padEnd(16)} fix: ${fix}\n`}`);
    }
  }
  return findings.some((finding) => finding.status === 'fail') ? 1 : 0;
}

/** The flags run, serve and mcp share, which sandboxOptions reads. */
const SANDBOX_FLAGS = {
  'memory-mb': { type: 'string' },
  'timeout-ms': { type: 'string' },
  image: { type: 'string' },
  runtime: { type: 'string' },
  'allow-exec': { type: 'boolean', default: false },
  allow: { type: 'string', multiple: true },
  resolve: { type: 'string', multiple: true },
  'secrets-file': { type: 'string' },
  'ca-file': { type: 'string' },
} as const;

/** The pool's size, of serve and mcp: --pool N (fixed), or --pool-min and --pool-max. */
const POOL_FLAGS = {
  pool: { type: 'string' },
  'pool-min': { type: 'string' },
  'pool-max': { type: 'string' },
  'shrink-after-ms': { type: 'string' },
} as const;

function poolOptions(values: { pool?: string; 'pool-min'?: string; 'pool-max'?: string; 'shrink-after-ms'?: string }): SandboxOptions {
  const shrink = integerOption('shrinkAfterMs', values['shrink-after-ms']);
  if (values['pool-min'] === undefined && values['pool-max'] === undefined) return { ...integerOption('poolSize', values.pool), ...shrink };
  if (values.pool !== undefined) throw new UsageError('--pool sets a fixed size: give it, or --pool-min and --pool-max, not both');
  if (values['pool-min'] === undefined || values['pool-max'] === undefined) throw new UsageError('--pool-min and --pool-max go together');
  const min = integerOption('poolSize.min', values['pool-min'])['poolSize.min']!;
  const max = integerOption('poolSize.max', values['pool-max'])['poolSize.max']!;
  return { poolSize: { min, max }, ...shrink };
}

/** The flag of run and mcp that runs their jobs on a service rather than on a local pool. */
const REMOTE_FLAG = { remote: { type: 'string' } } as const;

/**
 * The sandbox a command runs its jobs on: a local pool of `local`'s options, or with --remote
 * URL the service there (its token from WARMBOX_TOKEN), which has options of its own.
 */
function sandboxFor(values: { remote?: string; pool?: string } & SandboxFlagValues, local: SandboxOptions): PythonSandbox {
  if (values.remote === undefined) return new Sandbox(local);
  const poolFlag = (['memory-mb', 'image', 'runtime', 'pool', 'resolve', 'secrets-file', 'ca-file'] as const).find((flag) => values[flag] !== undefined) ?? (values['allow-exec'] ? 'allow-exec' : undefined);
  if (poolFlag !== undefined) throw new UsageError(`--${poolFlag} sets up a local pool: with --remote, the service's own options hold`);
  return new RemoteSandbox({ url: values.remote, token: process.env.WARMBOX_TOKEN });
}

type SandboxFlagValues = { 'memory-mb'?: string; 'timeout-ms'?: string; image?: string; runtime?: string; 'allow-exec'?: boolean; allow?: string[]; resolve?: string[]; 'secrets-file'?: string; 'ca-file'?: string };

async function sandboxOptions(values: SandboxFlagValues): Promise<SandboxOptions> {
  return {
    ...(await networkOption(values)),
    ...(values['allow-exec'] ? { allowExec: true } : {}),
    ...integerOption('memoryLimitMb', values['memory-mb']),
    ...integerOption('timeoutMs', values['timeout-ms']),
    ...(values.image === undefined ? {} : { image: values.image }),
    ...(values.runtime === undefined ? {} : { runtime: values.runtime }),
  };
}

/**
 * The sandbox's `network` from --allow (repeatable), --resolve NAME=ADDRESS (repeatable),
 * --secrets-file (JSON: host -> headers; a file, so that no secret is on a command line, where
 * `ps` shows it) and --ca-file (PEM); none without --allow.
 */
async function networkOption(values: SandboxFlagValues): Promise<Pick<SandboxOptions, 'network'>> {
  const { allow, resolve } = values;
  if (allow === undefined) {
    const stray = (['resolve', 'secrets-file', 'ca-file'] as const).find((flag) => values[flag] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} goes with --allow: give the hosts to allow too`);
    return {};
  }
  const pinned: Record<string, string> = {};
  for (const entry of resolve ?? []) {
    const [name, address] = entry.split('=');
    if (name === undefined || address === undefined || name === '' || address === '') throw new UsageError(`--resolve takes NAME=ADDRESS, got ${JSON.stringify(entry)}`);
    pinned[name] = address;
  }
  const read = (flag: 'secrets-file' | 'ca-file') =>
    readFile(values[flag]!, 'utf8').catch((error: Error) => {
      throw new UsageError(`cannot read --${flag} ${values[flag]}: ${error.message}`);
    });
  let secrets: Record<string, Record<string, string>> | undefined;
  if (values['secrets-file'] !== undefined) {
    try {
      secrets = JSON.parse(await read('secrets-file')) as Record<string, Record<string, string>>;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`--secrets-file is not JSON of host -> headers: ${(error as Error).message}`);
    }
  }
  return {
    network: {
      allow,
      ...(resolve === undefined ? {} : { resolve: pinned }),
      ...(secrets === undefined ? {} : { secrets }),
      ...(values['ca-file'] === undefined ? {} : { ca: await read('ca-file') }),
    },
  };
}

/** `{ [name]: n }` for a numeric flag given, `{}` for one left out; the library checks the range. */
function integerOption(name: string, text: string | undefined): Record<string, number> {
  if (text === undefined) return {};
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(text)}`);
  return { [name]: Number(text) };
}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}


main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`warmbox: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`warmbox: ${error.message}\n`);
    process.exit(1);
  },
);
