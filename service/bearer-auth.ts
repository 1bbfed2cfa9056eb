/**
 * The service's bearer token, checked on every request of the scope it is added to: the
 * `Authorization: Bearer` header, or for a browser's WebSocket, which cannot set a header, a
 * subprotocol `warmbox.bearer.<token>`. Compared as digests, so that neither the length nor
 * the content of the token shows in the time an answer takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../pool/index.js';
import { errorBody } from './error-body.js';
import { TOKEN_PROTOCOL_PREFIX } from '../wire/index.js';

/** An onRequest hook that answers 401 unless the request carries one of `tokens`. */
export function bearerAuth(tokens: readonly string[]): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = tokens.map(digest);
  return async (request, reply) => {
    const presented = digest(presentedToken(request) ?? '');
    // Every token compared, so the time does not tell which matched.
    if (expected.map((token) => timingSafeEqual(presented, token)).includes(true)) return;
    const body = errorBody(new UnauthorizedError());
    await reply.code(body.statusCode).header('www-authenticate', 'Bearer').send(body);
  };
}

/**
 * Who made a request, as far as the service can tell: the digest of its token (of none, with
 * no token configured). What a session is bound to: another token's requests do not find it.
 */
export function requester(request: FastifyRequest): string {
  return digest(presentedToken(request) ?? '').toString('hex');
}

function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length);
  const protocols = request.headers['sec-websocket-protocol']?.split(',').map((p) => p.trim()) ?? [];
  return protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
