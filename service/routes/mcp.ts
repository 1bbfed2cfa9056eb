/**
 * POST /mcp: the Model Context Protocol over Streamable HTTP (mcp/server.ts), behind the same
 * token as the rest of /v1. Stateless, as the SDK calls it: each request gets a server and a
 * transport of its own, answered as JSON, so that any instance behind a load balancer can take
 * any request. Its jobs are the service's jobs: counted, logged and drained with the others;
 * its sessions the service's sessions, bound to the token (a balancer routes a session's
 * calls by the id in their JSON body only if it reads bodies: deploy/haproxy.cfg does not).
 */
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyPluginAsync } from 'fastify';
import { createMcpServer } from '../../mcp/server.js';
import { warmboxVersion } from '../../pool/image.js';
import { ROUTES } from '../../wire/index.js';
import { requester } from '../bearer-auth.js';
import type { ServiceJobs } from '../jobs.js';
import type { ServiceSessions } from '../sessions.js';

export interface McpRouteOptions {
  readonly jobs: ServiceJobs;
  readonly sessions: ServiceSessions;
}

export const mcpRoute: FastifyPluginAsync<McpRouteOptions> = async (app, { jobs, sessions }) => {
  const version = warmboxVersion();
  app.post(ROUTES.mcp, { schema: { summary: 'The Model Context Protocol (Streamable HTTP, stateless): run_python and the session tools' } }, async (request, reply) => {
    // The session tools' sessions are the service's, bound to this request's token as /v1/sessions binds them.
    const owner = requester(request);
    const server = createMcpServer(jobs.sandbox, {
      version,
      runJob: (job) => jobs.run(request.log, request.id, job),
      sessions: {
        open: (options) => sessions.open(request.log, owner, options),
        run: (id, code) => sessions.run(request.log, owner, id, { code }),
        close: (id) => sessions.close(owner, id),
      },
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.raw.once('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    // The transport answers on the raw response itself.
    reply.hijack();
    await transport.handleRequest(request.raw, reply.raw, request.body);
  });
  // Stateless: no stream to open and no session to end.
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({ method, url: ROUTES.mcp, schema: { hide: true }, handler: async (_request, reply) => reply.code(405).header('allow', 'POST').send() });
  }
};
