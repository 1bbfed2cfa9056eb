import test from 'ava';
import { InvalidArgumentError, MAX_JOB_BYTES, Sandbox, type Job, type SandboxOptions } from '../../pool/index.js';
import { prepareJob } from '../../pool/job.js';
import { resolveOptions } from '../../pool/options.js';

// No engine at this address: a job that got past validation would fail to find Docker, or
// to find the sandbox initialised. Bad jobs must be refused before either.
const sandbox = () => new Sandbox({ poolSize: 1, docker: { socketPath: '/nonexistent/docker.sock' } });

const refused = test.macro(async (t, job: unknown, field: string, pattern: RegExp) => {
  const error = await t.throwsAsync(sandbox().run(job as string), { instanceOf: InvalidArgumentError });
  t.is(error?.field, field);
  t.regex(error?.message ?? '', pattern);
});

test('no code', refused, {}, 'job.code', /must be a string, got undefined/);
test('code as a number', refused, { code: 42 }, 'job.code', /got 42/);
test('job as null', refused, null, 'job', /code string or a job object/);
test('unknown field', refused, { code: '', timeout: 5 }, 'job.timeout', /not a field of a job/);
test('stdin as a buffer', refused, { code: '', stdin: Buffer.from('x') }, 'job.stdin', /must be a string/);
test('negative timeout', refused, { code: '', timeoutMs: -5 }, 'job.timeoutMs', /between 1 and/);
test('fractional timeout', refused, { code: '', timeoutMs: 1.5 }, 'job.timeoutMs', /integer/);
test('data with a BigInt', refused, { code: '', data: { n: 1n } }, 'job.data', /JSON-serialisable/);
test('data with a cycle', refused, { code: '', data: (() => { const a: unknown[] = []; a.push(a); return a; })() }, 'job.data', /JSON-serialisable/);
test('data with NaN', refused, { code: '', data: [1, Number.NaN] }, 'job.data', /NaN has no JSON form/);
test('data as a function', refused, { code: '', data: () => 1 }, 'job.data', /JSON-serialisable/);
test('signal that is not an AbortSignal', refused, { code: '', signal: {} }, 'job.signal', /AbortSignal/);
test('timeout as null', refused, { code: '', timeoutMs: null }, 'job.timeoutMs', /integer, got null/);
test('CPU time as null', refused, { code: '', cpuTimeMs: null }, 'job.cpuTimeMs', /integer, got null/);
test('a job over the size limit', refused, { code: 'x'.repeat(MAX_JOB_BYTES + 1) }, 'job', /at most/);

test('a valid job on a sandbox never initialised -> NotInitializedError', async (t) => {
  await t.throwsAsync(sandbox().run('print(1)'), { code: 'WARMBOX_ERR_NOT_INITIALIZED' });
});

test('the CPU-time limit is the job\'s, else the sandbox\'s, else the job\'s wall-clock limit', (t) => {
  const cpu = (options: SandboxOptions, job: Job) => prepareJob(job, resolveOptions(options)).request.cpuTimeMs;
  t.is(cpu({}, { code: '', timeoutMs: 3000 }), 3000);
  t.is(cpu({ timeoutMs: 7000 }, { code: '' }), 7000);
  t.is(cpu({ cpuTimeMs: 500 }, { code: '', timeoutMs: 3000 }), 500);
  t.is(cpu({ cpuTimeMs: 500 }, { code: '', cpuTimeMs: 200 }), 200);
  t.throws(() => new Sandbox({ cpuTimeMs: 0 }), { instanceOf: InvalidArgumentError, message: /cpuTimeMs/ });
});
