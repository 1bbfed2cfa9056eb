/** The probes a load balancer or an orchestrator asks, open without the token: up, and ready for a job. */
import type { FastifyPluginAsync } from 'fastify';
import { ROUTES } from '../../wire/index.js';
import type { ServiceJobs } from '../jobs.js';

export interface ProbeOptions {
  readonly jobs: ServiceJobs;
  /** How many jobs may wait: a local sandbox's maxQueue; a remote one's service is its own judge. */
  readonly maxQueue: number;
}

export const probes: FastifyPluginAsync<ProbeOptions> = async (app, { jobs, maxQueue }) => {
  app.get(ROUTES.healthz, { schema: { summary: 'The process is up' } }, async () => ({ status: 'up' }));

  app.get(ROUTES.readyz, { schema: { summary: 'A job would be taken now: a warm container, or room in the queue; 503 otherwise' } }, async (_request, reply) => {
    const stats = await jobs.sandbox.stats();
    const ready = !jobs.draining && (stats.warm > 0 || stats.queued < maxQueue);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : jobs.draining ? 'draining' : 'full', ...stats });
  });
};
