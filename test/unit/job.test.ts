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
test('data with a BigInt', refused, { code: '', data: { n: 1n } }, 'job.data.n', /1 has no JSON form/);
test('data with a cycle', refused, { code: '', data: (() => { const a: unknown[] = []; a.push(a); return a; })() }, 'job.data', /JSON-serialisable/);
test('data with NaN', refused, { code: '', data: [1, Number.NaN] }, 'job.data[1]', /NaN has no JSON form/);
test('data as a function', refused, { code: '', data: () => 1 }, 'job.data', /a function has no JSON form/);
// What JSON.stringify would silently drop or rewrite: the program would see other data.
test('data with a function beside a number', refused, { code: '', data: { a: 1, f: () => 1 } }, 'job.data.f', /a function has no JSON form/);
test('data with a function in an array', refused, { code: '', data: [() => 1] }, 'job.data[0]', /a function has no JSON form/);
test('data with undefined deep inside', refused, { code: '', data: { b: [1, { c: undefined }] } }, 'job.data.b[1].c', /undefined has no JSON form/);
test('data as a Map', refused, { code: '', data: new Map([[1, 2]]) }, 'job.data', /a Map has no JSON form/);
test('data with a Set inside', refused, { code: '', data: { s: new Set([1]) } }, 'job.data.s', /a Set has no JSON form/);
test('data with a hole', refused, { code: '', data: [1, , 3] }, 'job.data[1]', /holes/);
test('data with a symbol', refused, { code: '', data: { s: Symbol('x') } }, 'job.data.s', /a symbol has no JSON form/);

test('a job memoryLimitMb above maxJobMemoryLimitMb (which defaults to the sandbox\'s)', refused, { code: '', memoryLimitMb: 129 }, 'job.memoryLimitMb', /between 96 and 128/);
test('a job memoryLimitMb below what the sandbox\'s /work, /tmp and /dev/shm hold (96 MiB by default)', refused, { code: '', memoryLimitMb: 95 }, 'job.memoryLimitMb', /between 96 and 128/);
test('a job pidsLimit of 0', refused, { code: '', pidsLimit: 0 }, 'job.pidsLimit', /between 1 and 64/);

test('a job\'s own limits -> carried only where they differ from the sandbox\'s, within the ceilings', (t) => {
  const options = resolveOptions({ memoryLimitMb: 128, maxJobMemoryLimitMb: 512, pidsLimit: 64, maxJobPidsLimit: 128 });
  t.is(prepareJob({ code: '' }, options).limits, undefined);
  t.is(prepareJob({ code: '', memoryLimitMb: 128, pidsLimit: 64 }, options).limits, undefined);
  t.deepEqual(prepareJob({ code: '', memoryLimitMb: 512 }, options).limits, { memoryLimitMb: 512, pidsLimit: 64 });
  t.deepEqual(prepareJob({ code: '', pidsLimit: 2 }, options).limits, { memoryLimitMb: 128, pidsLimit: 2 });
  t.throws(() => prepareJob({ code: '', pidsLimit: 129 }, options), { instanceOf: InvalidArgumentError, message: /^job\.pidsLimit/ });
  t.throws(() => resolveOptions({ memoryLimitMb: 256, maxJobMemoryLimitMb: 128 }), { instanceOf: InvalidArgumentError, message: /^maxJobMemoryLimitMb must be .*between 256/ });
});

test('data that JSON takes as it is -> accepted: a Date (toJSON), an object without a prototype, nested arrays', (t) => {
  const bare = Object.assign(Object.create(null) as object, { a: [1, [2, { b: 'c' }]] });
  const { dataJson } = prepareJob({ code: '', data: { when: new Date(0), bare } }, resolveOptions({}));
  t.is(dataJson.toString(), '{"when":"1970-01-01T00:00:00.000Z","bare":{"a":[1,[2,{"b":"c"}]]}}');
});
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

// Files: every bad path is refused before a container is used, naming the path.
test('a file at an absolute path', refused, { code: '', files: { '/etc/passwd': 'x' } }, 'job.files["/etc/passwd"]', /relative to the working directory/);
test('a file whose .. leaves the directory', refused, { code: '', files: { 'a/../../x': 'x' } }, 'job.files["a/../../x"]', /leaves the working directory/);
test('a file with NUL in its path', refused, { code: '', files: { 'a\0b': 'x' } }, 'job.files["a\\u0000b"]', /NUL/);
test('a file with an empty path', refused, { code: '', files: { '': 'x' } }, 'job.files[""]', /empty path/);
test('a file that is the directory itself', refused, { code: '', files: { 'a/..': 'x' } }, 'job.files["a/.."]', /working directory itself/);
test('a path that is both a file and a directory', refused, { code: '', files: { a: 'x', 'a/b.txt': 'y' } }, 'job.files["a"]', /both a file and a directory/);
test('two paths that are one file', refused, { code: '', files: { 'a.txt': 'x', './a.txt': 'y' } }, 'job.files["./a.txt"]', /same file as another/);
test('a file named main.py', refused, { code: '', files: { 'main.py': 'x' } }, 'job.files["main.py"]', /where the code is written/);
test('a file that is a number', refused, { code: '', files: { 'a.txt': 5 } }, 'job.files["a.txt"]', /string or bytes/);
test('files as an array', refused, { code: '', files: ['a.txt'] }, 'job.files', /object of path/);
test('files larger than the working directory', async (t) => {
  const job = { code: '', files: { 'big.bin': new Uint8Array(1024 * 1024 + 1) } };
  const error = t.throws(() => prepareJob(job, resolveOptions({ workDirSizeMb: 1 })), { instanceOf: InvalidArgumentError });
  t.is(error?.field, 'job.files');
  t.regex(error?.message ?? '', /more than the working directory holds \(workDirSizeMb: 1\)/);
});
test('a returnFiles pattern that is absolute', refused, { code: '', returnFiles: ['/etc/*'] }, 'job.returnFiles[0]', /not absolute/);
test('a returnFiles pattern that leaves the directory', refused, { code: '', returnFiles: ['ok/*', '../*'] }, 'job.returnFiles[1]', /must not leave/);
test('returnFiles as a string', refused, { code: '', returnFiles: 'out/*' }, 'job.returnFiles', /array of glob patterns/);

test('files and returnFiles become the agent\'s: paths normalised, bytes as base64, the limits attached', (t) => {
  const { request } = prepareJob(
    { code: '', files: { './dir/../a.txt': 'é', 'b/c.bin': Buffer.from([0, 255]) }, returnFiles: ['out/*.png'] },
    resolveOptions({ maxReturnFiles: 3, maxReturnBytes: 1000, returnFilesTimeoutMs: 700 }),
  );
  t.deepEqual(request.files, [
    { path: 'a.txt', content: 'é', encoding: 'utf8' },
    { path: 'b/c.bin', content: 'AP8=', encoding: 'base64' },
  ]);
  t.deepEqual(request.returnFiles, { patterns: ['out/*.png'], maxFiles: 3, maxBytes: 1000, timeoutMs: 700 });
});
