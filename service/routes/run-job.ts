/** POST /v1/run: a job as JSON, answered with its result; a repeat of an `id` with the first run's. */
import type { FastifyPluginAsync } from 'fastify';
import type { RunResult } from '../../pool/index.js';
import { decodeJob, encodeResult, ROUTES, type WireJob } from '../../wire/index.js';
import type { JobMemory } from '../job-memory.js';
import type { ServiceJobs } from '../jobs.js';

export interface RunRouteOptions {
  readonly jobs: ServiceJobs;
  readonly memory: JobMemory<RunResult>;
}

export const runRoute: FastifyPluginAsync<RunRouteOptions> = async (app, { jobs, memory }) => {
  app.post<{ Body: WireJob }>(
    ROUTES.run,
    {
      schema: {
        summary: 'Runs one job and answers with its result',
        body: { $ref: 'Job#' },
        response: { 200: { $ref: 'RunResult#' }, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    async (request, reply) => {
      // A client that goes away before its answer takes its job with it.
      const controller = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new Error('the client went away'));
      });
      const start = () => jobs.run(request.log, request.body.id ?? request.id, decodeJob(request.body), (job) => jobs.sandbox.run({ ...job, signal: controller.signal }));
      if (request.body.id === undefined) return encodeResult(await start());
      // A repeat of a job already sent is answered with the first run's result, and says so.
      const { value, replayed } = memory.once(request.body.id, start);
      const result = await value;
      if (replayed) {
        reply.header('warmbox-replayed', 'true');
        request.log.info({ jobId: request.body.id, status: result.status }, 'job replayed');
      }
      return encodeResult(replayed ? { ...result, replayed } : result);
    },
  );
};
