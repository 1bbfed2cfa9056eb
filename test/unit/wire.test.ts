/**
 * The wire (wire/index.ts): a job and a result go to JSON and back unchanged, for generated
 * values (fast-check), and what goes on the wire is what the service's own schemas accept,
 * checked with Ajv as Fastify checks it.
 */
import test from 'ava';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { RUN_STATUSES } from '../../contract/protocol.js';
import type { Job, RunResult } from '../../pool/index.js';
import { decodeJob, decodeResult, encodeJob, encodeResult, errorSchema, jobSchema, resultSchema } from '../../wire/index.js';
import { EGRESS_REASONS } from '../../contract/egress.js';

const ajv = new Ajv({ strict: false });
const validJob = ajv.compile(jobSchema);
const validResult = ajv.compile(resultSchema);
ajv.compile(errorSchema);

const bytes = fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array));
// What JSON carries: -0 is 0 once it has been through JSON, on any wire.
const json = fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);
const path = fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8}){0,2}$/);

const job = fc.record(
  {
    id: fc.uuid(),
    code: fc.string(),
    data: json,
    stdin: fc.string(),
    timeoutMs: fc.integer({ min: 1, max: 60_000 }),
    env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,6}$/), fc.string()),
    files: fc.dictionary(path, fc.oneof(fc.string(), bytes), { maxKeys: 4 }),
    returnFiles: fc.array(path, { maxLength: 3 }),
  },
  { requiredKeys: ['id', 'code'] },
);

const result: fc.Arbitrary<RunResult> = fc.record({
  status: fc.constantFrom(...RUN_STATUSES),
  stdout: fc.string(),
  stderr: fc.string(),
  result: json,
  exitCode: fc.option(fc.integer({ min: 0, max: 255 })),
  signal: fc.option(fc.constantFrom('SIGKILL', 'SIGTERM')),
  timedOut: fc.boolean(),
  cpuTimeExceeded: fc.boolean(),
  memoryExceeded: fc.boolean(),
  outputTruncated: fc.boolean(),
  error: fc.option(fc.record({ type: fc.string(), message: fc.string(), traceback: fc.string() })),
  durationMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
  files: fc.array(bytes.chain((data) => path.map((p) => ({ path: p, size: data.length, data })))),
  filesTruncated: fc.boolean(),
  figures: fc.array(bytes, { maxLength: 2 }),
  isError: fc.boolean(),
  egress: fc.array(
    fc.record({
      host: fc.domain(),
      port: fc.integer({ min: 1, max: 65_535 }),
      address: fc.option(fc.ipV4()),
      allowed: fc.boolean(),
      reason: fc.constantFrom(...EGRESS_REASONS),
      bytesOut: fc.nat(),
      bytesIn: fc.nat(),
      ms: fc.nat(),
    }),
    { maxLength: 3 },
  ),
});

/** The job with each file's bytes as a Buffer, so that deepEqual compares bytes, not classes. */
function withBuffers(job: Job): Job {
  if (job.files === undefined) return job;
  return { ...job, files: Object.fromEntries(Object.entries(job.files).map(([p, c]) => [p, typeof c === 'string' ? c : Buffer.from(c)])) };
}

test('a job -> JSON the Job schema accepts -> the same job back, bytes as bytes, without the service\'s id', (t) => {
  fc.assert(
    fc.property(job, (original) => {
      const wire = JSON.parse(JSON.stringify(encodeJob(original)));
      t.true(validJob(wire), JSON.stringify(validJob.errors));
      const { id: _id, ...rest } = original;
      t.deepEqual(withBuffers(decodeJob(wire)), withBuffers(rest));
    }),
  );
});

test('a result -> JSON the RunResult schema accepts -> the same result back, files and figures as Buffers', (t) => {
  fc.assert(
    fc.property(result, fc.boolean(), (original, replayed) => {
      const sent = replayed ? { ...original, replayed } : original;
      const wire = JSON.parse(JSON.stringify(encodeResult(sent)));
      t.true(validResult(wire), JSON.stringify(validResult.errors));
      t.deepEqual(decodeResult(wire), sent);
    }),
  );
});

test("the RunResult schema requires every field a result has, and admits no other but replayed and a cell's value and sessionEnded", (t) => {
  const sample = fc.sample(result, 1)[0]!;
  t.deepEqual([...resultSchema.required].sort(), Object.keys(sample).sort());
  t.deepEqual(Object.keys(resultSchema.properties).sort(), [...Object.keys(sample), 'replayed', 'value', 'sessionEnded'].sort());
  t.false(validResult({ ...encodeResult(sample), surprise: 1 }));
});
