/**
 * `warmbox serve`: one Sandbox behind the service's API, listening until SIGTERM or SIGINT,
 * then draining: no new jobs, running ones finish, every container is removed.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Sandbox, type SandboxOptions } from '../pool/index.js';
import { buildService, type Service } from './app.js';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly sandbox: SandboxOptions;
  /** The bearer token itself, e.g. from WARMBOX_TOKEN; or several, each a client of its own (sessions are bound to one). */
  readonly token?: string | readonly string[];
  /** A file whose lines (trimmed, blank ones skipped) are the tokens. */
  readonly tokenFile?: string;
  readonly demoDir?: string;
  readonly logger?: boolean;
  /** More names the `Host` header may carry (ServiceOptions.allowedHosts). */
  readonly allowedHosts?: readonly string[];
  /** More origins whose pages may call the service (ServiceOptions.allowedOrigins). */
  readonly allowedOrigins?: readonly string[];
}

export interface RunningService extends Service {
  readonly sandbox: Sandbox;
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  readonly address: string;
  /** Drains, then closes the sandbox: what SIGTERM does. */
  stop(): Promise<void>;
}

export class ServeError extends Error {}

/** Starts the sandbox and the service; rejects before either if the options are unsafe. */
export async function serve(options: ServeOptions): Promise<RunningService> {
  const given = options.tokenFile === undefined ? options.token : (await readFile(options.tokenFile, 'utf8')).split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const token = typeof given === 'string' ? [given] : given;
  if (token !== undefined && (token.length === 0 || token.includes(''))) throw new ServeError('the token is empty');
  if (token === undefined && !isLoopback(options.host)) {
    throw new ServeError(`refusing to listen on ${options.host} without a token: set WARMBOX_TOKEN or --token-file, or listen on 127.0.0.1`);
  }
  for (const host of options.allowedHosts ?? []) {
    if (!/^(\*|(\*\.)?[\w-]+(\.[\w-]+)*)$/.test(host)) throw new ServeError(`--allowed-host must be a host name, *.domain or *, got ${JSON.stringify(host)}`);
  }
  for (const origin of options.allowedOrigins ?? []) {
    if (URL.parse(origin)?.origin !== origin.replace(/\/$/, '')) throw new ServeError(`--allowed-origin must be an origin such as https://ide.example.com, got ${JSON.stringify(origin)}`);
  }
  const sandbox = new Sandbox(options.sandbox);
  await sandbox.initialize();
  let service: Service;
  try {
    service = await buildService({
      sandbox,
      token,
      demoDir: options.demoDir,
      logger: options.logger ?? true,
      listenHost: options.host,
      allowedHosts: options.allowedHosts,
      allowedOrigins: options.allowedOrigins,
    });
    await service.app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await sandbox.close();
    throw error;
  }
  const address = service.app.listeningOrigin;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      service.app.log.info('draining: no new jobs, waiting for the running ones');
      await service.drain();
      await sandbox.close();
      service.app.log.info('stopped: every container removed');
    })());
  return { ...service, sandbox, address, stop };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
