/**
 * A job's way out: an HTTP proxy on the host, one per job that has network, listening on a
 * Unix socket in its container's io directory, which the agent relays the program's proxy
 * port to. The container itself keeps no route and no resolver, so a program that ignores
 * the proxy reaches nothing; through it, each connection is decided here:
 *
 *   1. the name (or address) the client asked for, as the CONNECT target or the absolute URI
 *      of a plain HTTP request (whose Host must agree), against the job's allow rules;
 *   2. the connection cap;
 *   3. the name resolved here, on the host (or pinned by the operator's `resolve` map), and
 *      the address checked again: a private, loopback, link-local or other special address is
 *      refused unless the allow list names its range, so a name that rebinds to one reaches
 *      nothing; the connection then goes to that address, never to a second lookup's.
 *
 * Every attempt is a record (host, port, address, decision, bytes each way, time), and every
 * connection is cut when the job ends (`close()`).
 *
 * Node's own `http` and `net` rather than a proxy library: the decision, the pinned address,
 * the counting and the caps are the whole of it, and proxy-chain and its peers resolve names
 * themselves, which is what this must not let happen.
 */
import { lookup } from 'node:dns/promises';
import { chmod } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates, TLSSocket } from 'node:tls';
import { connect, isIP, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { EgressReason, EgressRecord } from '../../contract/egress.js';
import type { EgressCa } from './ca.js';
import { ruleFor, specialRange, type EgressRule } from './rules.js';

export type { EgressReason, EgressRecord } from '../../contract/egress.js';

/** The caps of one job's connections. */
export interface EgressLimits {
  readonly maxConnections: number;
  readonly maxBytesOut: number;
  readonly maxBytesIn: number;
  readonly maxConnectionMs: number;
}

/** What one job may reach, and how much. */
export interface EgressPolicy {
  readonly allow: readonly EgressRule[];
  /** Names the operator pinned to addresses: not looked up, and not refused for their range. */
  readonly resolve: ReadonlyMap<string, string>;
  readonly limits: EgressLimits;
  /** Headers added on the way to these `host:port`s, whose TLS the proxy ends with `ca`. */
  readonly secrets?: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** The sandbox's own CA, which issues the certificates the proxy presents for `secrets`' hosts. */
  readonly ca?: EgressCa;
  /** What the proxy trusts of those hosts' own certificates, besides Node's CAs. */
  readonly upstreamCa?: readonly string[];
}

type Decision = { readonly address: string } | { readonly reason: EgressReason; readonly address?: string };

/** A connection the proxy made: its record as it stands, and what #cut destroys to end it. */
interface Open {
  readonly record: { -readonly [K in keyof EgressRecord]: EgressRecord[K] };
  readonly startedAt: number;
  /** Its max-connection-ms timer. */
  readonly timer: NodeJS.Timeout;
  /** The program's side and the host's, however many requests an interception made. */
  readonly streams: Set<{ destroy(): unknown }>;
}

export class EgressProxy {
  readonly #server: Server;
  readonly #policy: EgressPolicy;
  readonly #records: EgressRecord[] = [];
  readonly #open = new Set<Open>();
  readonly #sockets = new Set<Socket>();
  #connections = 0;
  #closing: Promise<readonly EgressRecord[]> | undefined;

  private constructor(server: Server, policy: EgressPolicy) {
    this.#server = server;
    this.#policy = policy;
  }

  /** A proxy for one job's policy, listening on `socketPath` (open to the container's agent). */
  static async open(socketPath: string, policy: EgressPolicy): Promise<EgressProxy> {
    const server = createServer();
    const proxy = new EgressProxy(server, policy);
    server.on('connection', (socket: Socket) => {
      proxy.#sockets.add(socket);
      socket.once('close', () => proxy.#sockets.delete(socket));
    });
    server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => void proxy.#tunnel(request, client, head));
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void proxy.#forward(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    // The agent is root in the container without CAP_DAC_OVERRIDE: it needs the socket's write bit.
    await chmod(socketPath, 0o666);
    return proxy;
  }

  /**
   * Cuts every connection open, and hands over the records so far, starting afresh (its cap
   * on connections too): a session's cell is a job of its own for the network.
   */
  takeRecords(): readonly EgressRecord[] {
    for (const open of [...this.#open]) {
      this.#cut(open, 'job-ended');
      this.#end(open);
    }
    const taken = this.#records.splice(0);
    this.#connections = 0;
    return taken;
  }

  /** Cuts every connection and stops listening; resolves with every attempt's record. Safe to call twice. */
  close(): Promise<readonly EgressRecord[]> {
    this.#closing ??= (async () => {
      for (const open of this.#open) this.#cut(open, 'job-ended');
      for (const socket of this.#sockets) socket.destroy();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
      // The cut connections' handlers record them as their sockets close.
      for (const open of [...this.#open]) this.#end(open);
      return this.#records;
    })();
    return this.#closing;
  }

  /** CONNECT host:port: a tunnel, its bytes passed through untouched. */
  async #tunnel(request: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => {});
    const target = parseTarget(request.url ?? '');
    if (target === undefined) return refuse(client, this.#refused(request.url ?? '', 0, { reason: 'not-a-proxy-request' }));
    const decision = await this.#decide(target.host, target.port);
    if (!('address' in decision) || 'reason' in decision) return refuse(client, this.#refused(target.host, target.port, decision));
    const open = this.#begin(target.host, target.port, decision.address);
    const secrets = this.#policy.secrets?.get(`${target.host.toLowerCase()}:${target.port}`);
    if (secrets !== undefined && this.#policy.ca !== undefined) return this.#intercept(client, head, target, decision.address, secrets, open);
    // No Nagle on either leg: a TLS handshake is small writes that would otherwise wait for ACKs.
    client.setNoDelay(true);
    const upstream = connect({ host: decision.address, port: target.port, noDelay: true });
    open.streams.add(upstream).add(client);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      this.#count(client, open, 'out');
      this.#count(upstream, open, 'in');
      pipeline(client, upstream, () => this.#cut(open, 'closed'));
      pipeline(upstream, client, () => this.#cut(open, 'closed'));
    });
    upstream.once('error', () => {
      if (connected) return this.#cut(open, 'closed');
      open.record.reason = 'connect-failed';
      open.record.allowed = false;
      client.end('HTTP/1.1 502 Bad Gateway\r\nwarmbox-egress: connect-failed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    await new Promise((resolve) => client.once('close', resolve));
    upstream.destroy();
    this.#end(open);
  }

  /**
   * A tunnel to a host the sandbox holds secrets for: the program's TLS ends here, with a
   * certificate the sandbox's CA issued for the host, and each request it sends goes on over
   * a TLS connection of the proxy's own, verified against the host's name, with the headers
   * added. The record counts the program's bytes each way, as for any tunnel.
   */
  async #intercept(client: Socket, head: Buffer, target: { host: string; port: number }, address: string, secrets: Readonly<Record<string, string>>, open: Open): Promise<void> {
    client.setNoDelay(true);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) client.unshift(head);
    const secure = new TLSSocket(client, { isServer: true, secureContext: await this.#policy.ca!.contextFor(target.host) });
    secure.on('error', () => client.destroy());
    open.streams.add(secure).add(client);
    this.#count(secure, open, 'out');
    const inner = createServer((request, response) => {
      const upstream = httpsRequest({
        host: address,
        port: target.port,
        servername: isIP(target.host) === 0 ? target.host : undefined,
        method: request.method,
        path: request.url,
        headers: forwardedHeaders(request, secrets),
        agent: false,
        ...(this.#policy.upstreamCa === undefined ? {} : { ca: [...rootCertificates, ...this.#policy.upstreamCa] }),
      });
      open.streams.add(upstream);
      upstream.once('close', () => open.streams.delete(upstream));
      upstream.once('response', (answered) => {
        response.writeHead(answered.statusCode ?? 502, answered.headers);
        this.#count(answered, open, 'in');
        pipeline(answered, response, () => {});
      });
      upstream.once('error', () => {
        if (!response.headersSent) response.writeHead(502, { 'warmbox-egress': 'connect-failed', connection: 'close' }).end();
        else response.destroy();
      });
      pipeline(request, upstream, () => {});
    });
    inner.emit('connection', secure);
    await new Promise((resolve) => client.once('close', resolve));
    this.#cut(open, 'closed');
    this.#end(open);
  }

  /** A plain HTTP request with an absolute URI, forwarded to the address decided. */
  async #forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = URL.parse(request.url ?? '');
    if (url === null || url.protocol !== 'http:') {
      return answer(response, this.#refused(url?.hostname ?? '', 0, { reason: 'not-a-proxy-request' }));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 80 : Number(url.port);
    if ((request.headers.host ?? '').toLowerCase() !== url.host.toLowerCase()) return answer(response, this.#refused(host, port, { reason: 'host-mismatch' }));
    const decision = await this.#decide(host, port);
    if (!('address' in decision) || 'reason' in decision) return answer(response, this.#refused(host, port, decision));
    const open = this.#begin(host, port, decision.address);
    // A plain request to a host with secrets gets them too: the operator named that port.
    const headers = forwardedHeaders(request, this.#policy.secrets?.get(`${host.toLowerCase()}:${port}`));
    const upstream = httpRequest({ host: decision.address, port, method: request.method, path: `${url.pathname}${url.search}`, headers, agent: false, setHost: false });
    open.streams.add(upstream).add(response);
    upstream.once('response', (answered) => {
      response.writeHead(answered.statusCode ?? 502, answered.headers);
      this.#count(answered, open, 'in');
      pipeline(answered, response, () => this.#cut(open, 'closed'));
    });
    upstream.once('error', () => {
      if (response.headersSent) return this.#cut(open, 'closed');
      open.record.reason = 'connect-failed';
      open.record.allowed = false;
      response.writeHead(502, { 'warmbox-egress': 'connect-failed', connection: 'close' }).end();
    });
    upstream.setNoDelay(true);
    this.#count(request, open, 'out');
    pipeline(request, upstream, () => {});
    await new Promise((resolve) => response.once('close', resolve));
    upstream.destroy();
    this.#end(open);
  }

  async #decide(host: string, port: number): Promise<Decision> {
    const { allow, resolve, limits } = this.#policy;
    if (ruleFor(allow, host, port) === undefined) return { reason: 'not-allowed' };
    if (this.#connections >= limits.maxConnections) return { reason: 'max-connections' };
    let address: string;
    const literal = isIP(host) !== 0;
    const pinned = resolve.get(host.toLowerCase());
    if (literal) address = host;
    else if (pinned !== undefined) address = pinned;
    else {
      try {
        address = (await lookup(host)).address;
      } catch {
        return { reason: 'unresolved' };
      }
    }
    // An address literal was allowed by a range the list names; a pinned name by the operator.
    if (!literal && pinned === undefined && specialRange(address) !== undefined && ruleFor(allow, address, port) === undefined) return { reason: 'private-address', address };
    this.#connections++;
    return { address };
  }

  #refused(host: string, port: number, decision: { reason: EgressReason; address?: string }): EgressRecord {
    const record: EgressRecord = { host, port, address: decision.address ?? null, allowed: false, reason: decision.reason, bytesOut: 0, bytesIn: 0, ms: 0 };
    this.#records.push(record);
    return record;
  }

  #begin(host: string, port: number, address: string): Open {
    const timer = setTimeout(() => this.#cut(open, 'max-connection-ms'), this.#policy.limits.maxConnectionMs).unref();
    const open: Open = { record: { host, port, address, allowed: true, reason: 'closed', bytesOut: 0, bytesIn: 0, ms: 0 }, startedAt: performance.now(), timer, streams: new Set() };
    this.#open.add(open);
    return open;
  }

  /** Ends a connection by destroying both its sides; the first reason given is its record's. */
  #cut(open: Open, reason: EgressReason): void {
    if (open.record.reason === 'closed') open.record.reason = reason;
    for (const stream of open.streams) stream.destroy();
  }

  #end(open: Open): void {
    if (!this.#open.delete(open)) return;
    clearTimeout(open.timer);
    open.record.ms = Math.round(performance.now() - open.startedAt);
    this.#records.push({ ...open.record });
  }

  /**
   * Counts the bytes `source` gives in one direction, beside the pipe that carries them (a
   * listener of its own, so the bytes are not copied through a stream more), and cuts the
   * connection as soon as they pass the direction's cap.
   */
  #count(source: NodeJS.ReadableStream, open: Open, direction: 'out' | 'in'): void {
    const cap = direction === 'out' ? this.#policy.limits.maxBytesOut : this.#policy.limits.maxBytesIn;
    const field = direction === 'out' ? 'bytesOut' : 'bytesIn';
    source.on('data', (chunk: Buffer) => {
      open.record[field] += chunk.length;
      if (open.record[field] > cap) this.#cut(open, direction === 'out' ? 'max-bytes-out' : 'max-bytes-in');
    });
  }
}

/** `host:port` or `[v6]:port` of a CONNECT. */
function parseTarget(target: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  if (match === null) return undefined;
  const port = Number(match[3]);
  return port >= 1 && port <= 65_535 ? { host: match[1] ?? match[2]!, port } : undefined;
}

/** A request's headers as they go on: with the secrets for its host added, and without the hop-by-hop ones. */
function forwardedHeaders(request: IncomingMessage, secrets: Readonly<Record<string, string>> | undefined): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = { ...request.headers, ...secrets };
  for (const hop of ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive']) delete headers[hop];
  return headers;
}

function refuse(client: Socket, record: EgressRecord): void {
  client.end(`HTTP/1.1 403 Forbidden\r\nwarmbox-egress: ${record.reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

function answer(response: ServerResponse, record: EgressRecord): void {
  response.writeHead(record.reason === 'not-a-proxy-request' ? 400 : 403, { 'warmbox-egress': record.reason, connection: 'close' }).end();
}
