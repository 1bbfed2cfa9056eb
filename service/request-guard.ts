/**
 * Who may talk to the service from a browser: the `Host` and `Origin` checks Jupyter and Vite
 * make, on every request and with or without a token.
 *
 * - Host: a page the developer visits can point a name of its own at 127.0.0.1 (DNS
 *   rebinding) and then talk to the service as its own origin. So the `Host` header must be
 *   an IP address (a rebinding needs a name), `localhost` or a name under `.localhost`, the
 *   name the service listens on, or one the operator allowed (`allowedHosts`).
 * - Origin: a page on another origin may open a WebSocket to the service (browsers do not
 *   apply CORS to those) or post a form or a `no-cors` fetch to it. So an upgrade and every
 *   request but GET, HEAD and OPTIONS that carries an `Origin` must come from the service's
 *   own origin (its page, `--demo`) or from one the operator allowed (`allowedOrigins`). A
 *   request without `Origin` (or without `Host`: HTTP/1.0, a load balancer's check) comes from
 *   no browser page, and the token (if any) is its check.
 *
 * Written here rather than taken from a library: fastify has no plugin for either check, and
 * @fastify/cors is about what a browser may read, not about what reaches the routes.
 */
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HostNotAllowedError, OriginNotAllowedError } from '../contract/errors.js';
import { errorBody } from './error-body.js';

export interface RequestGuardOptions {
  /** The address the service listens on: a name there is allowed as `Host` too. */
  readonly listenHost: string;
  /**
   * More names `Host` may carry: exact (`warmbox.internal`), or `*.example.com` for its
   * subdomains; `'*'` allows any (behind a proxy that checks `Host` itself).
   */
  readonly allowedHosts?: readonly string[];
  /** More origins whose pages may call the service (`https://ide.example.com`). */
  readonly allowedOrigins?: readonly string[];
}

/** An onRequest hook that answers 403 with a typed error to a request from a host or origin not allowed. */
export function requestGuard(options: RequestGuardOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const hostAllowed = hostMatcher([...(options.allowedHosts ?? []), ...(isIP(options.listenHost) === 0 ? [options.listenHost] : [])]);
  const origins = new Set((options.allowedOrigins ?? []).map(normalizeOrigin));
  return async (request, reply) => {
    const host = request.headers.host;
    const error =
      host !== undefined && !hostAllowed(hostName(host))
        ? new HostNotAllowedError(host)
        : needsOriginCheck(request) && !originAllowed(request.headers.origin, host, origins)
          ? new OriginNotAllowedError(request.headers.origin!)
          : undefined;
    if (error === undefined) return;
    request.log.warn({ host, origin: request.headers.origin, url: request.url, code: error.code }, 'request refused');
    const body = errorBody(error);
    await reply.code(body.statusCode).send(body);
  };
}

/** A predicate over host names, from exact names and `*.` wildcards. */
export function hostMatcher(allowed: readonly string[]): (name: string) => boolean {
  const names = allowed.map((entry) => entry.toLowerCase());
  if (names.includes('*')) return () => true;
  return (name) => {
    const lower = name.toLowerCase();
    if (isIP(lower) !== 0 || lower === 'localhost' || lower.endsWith('.localhost')) return true;
    return names.some((entry) => (entry.startsWith('*.') ? lower.endsWith(entry.slice(1)) && lower.length > entry.length - 1 : lower === entry));
  };
}

/** The name in a Host header, without its port or an IPv6 address's brackets. */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function needsOriginCheck(request: FastifyRequest): boolean {
  if (request.headers.origin === undefined) return false;
  return request.headers.upgrade !== undefined || !['GET', 'HEAD', 'OPTIONS'].includes(request.method);
}

/** The page's origin is the service's own (same host and port, over http or https), or an allowed one. */
function originAllowed(origin: string | undefined, host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined) return true;
  // `null` (a sandboxed frame, a file) and anything else that is no URL is no origin allowed.
  const url = URL.parse(origin);
  if (url === null) return false;
  if (allowed.has(url.origin)) return true;
  if (host === undefined) return false;
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === URL.parse(`${url.protocol}//${host}`)?.host;
}

function normalizeOrigin(origin: string): string {
  return new URL(origin).origin;
}
