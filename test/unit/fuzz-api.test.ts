/**
 * The public API with generated inputs (fast-check): every option, every job field and the
 * second argument of run(), wrong in every way a value can be. Each call either works or
 * rejects with InvalidArgumentError naming the field, before any container is used; nothing
 * else is ever thrown, and nothing is thrown synchronously by run().
 */
import test from 'ava';
import fc from 'fast-check';
import { InvalidArgumentError, NotInitializedError, Sandbox } from '../../pool/index.js';
import { DEFAULTS } from '../../pool/options.js';

const OPTION_NAMES = [...Object.keys(DEFAULTS), 'cpuTimeMs', 'maxJobMemoryLimitMb', 'maxJobPidsLimit', 'image', 'socketRoot', 'docker', 'preload'];
const JOB_FIELDS = ['code', 'data', 'stdin', 'timeoutMs', 'cpuTimeMs', 'memoryLimitMb', 'pidsLimit', 'env', 'files', 'returnFiles', 'signal', 'v3'];

// Values of every type, and some near the valid ones, so that both sides of each check are reached.
const anyValue = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true }),
  fc.integer({ min: -5, max: 70_000 }),
  fc.string(),
  fc.constantFrom(Number.NaN, Infinity, -0, 1.5, null, undefined, true, () => 1, Symbol('s')),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string(), fc.integer()), { maxKeys: 3 }),
);

function fieldOf(error: unknown): string | undefined {
  return error instanceof InvalidArgumentError ? error.field : undefined;
}

test('new Sandbox(generated options) -> a Sandbox, or InvalidArgumentError naming the option', (t) => {
  fc.assert(
    fc.property(fc.oneof(anyValue, fc.dictionary(fc.constantFrom(...OPTION_NAMES, 'poolsize', '__proto__'), anyValue, { maxKeys: 4 })), (options) => {
      try {
        new Sandbox(options as number);
        return true;
      } catch (error) {
        const field = fieldOf(error);
        return field !== undefined && (field === 'options' || OPTION_NAMES.includes(field.split('[')[0]!) || typeof options === 'object');
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('run(generated job, generated options) -> never throws synchronously; rejects with InvalidArgumentError naming the field, or gets past validation', async (t) => {
  // No engine at this address, and not initialised: a job past validation meets NotInitializedError.
  const sandbox = new Sandbox({ poolSize: 1, docker: { socketPath: '/nonexistent/docker.sock' } });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(anyValue, fc.dictionary(fc.constantFrom(...JOB_FIELDS, 'timeout'), anyValue, { maxKeys: 5 }), fc.record({ code: fc.string() }, { requiredKeys: [] })),
      fc.oneof(fc.constant(undefined), anyValue, fc.record({ onStdout: anyValue, onStderr: anyValue }, { requiredKeys: [] })),
      async (job, second) => {
        let promise: Promise<unknown>;
        try {
          promise = typeof second === 'function' ? new Promise((resolve) => sandbox.run(job as string, resolve as never)) : sandbox.run(job as string, second as never);
        } catch (error) {
          t.log('threw synchronously', error);
          return false;
        }
        const outcome = await promise.then(
          (value) => value,
          (error: unknown) => error,
        );
        if (outcome instanceof NotInitializedError || outcome === null) return true;
        const field = fieldOf(outcome);
        return field !== undefined && (field === 'job' || field === 'options' || field.startsWith('job.') || field.startsWith('options.'));
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
