/** The probes a load balancer or an orchestrator asks, open without the token: up, and ready for a job. */
import type { FastifyPluginAsync } from 'fastify';
import { ROUTES } from '../../wire/index.js';
import type { ServiceJobs } from '../jobs.js';

export interface ProbeOptions {
  readonly jobs: ServiceJobs;
}

export const probes: FastifyPluginAsync<ProbeOptions> = async (app, { jobs }) => {
  app.get(ROUTES.healthz, { schema: { summary: 'The process is up' } }, async () => ({ status: 'up' }));

  app.get(ROUTES.readyz, { schema: { summary: 'A job would be taken now: a warm container, or room in the queue; 503 otherwise' } }, async (_request, reply) => {
    const stats = jobs.sandbox.stats();
    const ready = !jobs.draining && (stats.warm > 0 || stats.queued < jobs.sandbox.options.maxQueue);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : jobs.draining ? 'draining' : 'full', ...stats });
  });
};
