import test from 'ava';
import { DEFAULTS, InvalidArgumentError, Sandbox } from '../../pool/index.js';

test('new Sandbox(n) is a pool of n with every other default', (t) => {
  const sandbox = new Sandbox(4);
  t.like(sandbox.options, { ...DEFAULTS, poolSize: 4 });
});

test('new Sandbox() uses the defaults, frozen', (t) => {
  const { options } = new Sandbox();
  t.like(options, DEFAULTS);
  t.true(Object.isFrozen(options));
});

const invalid = test.macro((t, input: unknown, field: string, pattern: RegExp) => {
  const error = t.throws(() => new Sandbox(input as number), { instanceOf: InvalidArgumentError });
  t.is(error?.code, 'WARMBOX_ERR_INVALID_ARGUMENT');
  t.is(error?.field, field);
  t.regex(error?.message ?? '', pattern);
});

test('pool size 0', invalid, 0, 'poolSize', /between 1 and/);
test('pool size 2.5', invalid, 2.5, 'poolSize', /integer/);
test('pool size { min: 0 }', invalid, { poolSize: { min: 0, max: 4 } }, 'poolSize.min', /between 1 and/);
test('pool size with max below min', invalid, { poolSize: { min: 4, max: 2 } }, 'poolSize.max', /between 4 and 256, got 2/);
test('pool size without max', invalid, { poolSize: { min: 2 } }, 'poolSize.max', /integer, got undefined/);
test('pool size with another field', invalid, { poolSize: { min: 2, max: 4, initial: 3 } }, 'poolSize.initial', /takes min and max/);
test('pool size as an array', invalid, { poolSize: [2, 4] }, 'poolSize', /a number or \{ min, max \}/);
test('negative shrinkAfterMs', invalid, { shrinkAfterMs: -1 }, 'shrinkAfterMs', /between 0 and/);

test('poolSize { min, max } -> poolSize is the min, maxPoolSize the max; a number is both', (t) => {
  t.like(new Sandbox({ poolSize: { min: 2, max: 12 } }).options, { poolSize: 2, maxPoolSize: 12, shrinkAfterMs: 30_000 });
  t.like(new Sandbox(4).options, { poolSize: 4, maxPoolSize: 4 });
});

test('negative timeout', invalid, { timeoutMs: -1 }, 'timeoutMs', /between 1 and/);
test('huge timeout', invalid, { timeoutMs: 1e12 }, 'timeoutMs', /between 1 and/);
test('memory as a string', invalid, { memoryLimitMb: '128' }, 'memoryLimitMb', /integer, got the string "128"/);
test('unknown option', invalid, { poolsize: 2 }, 'poolsize', /not an option/);
test('empty image', invalid, { image: '' }, 'image', /non-empty/);
test('relative socket root', invalid, { socketRoot: 'tmp' }, 'socketRoot', /absolute directory path, got the string "tmp"/);
test('options as an array', invalid, [], 'options', /pool size or an options object/);
test('NaN queue', invalid, { maxQueue: Number.NaN }, 'maxQueue', /integer/);
test('pool size as null', invalid, { poolSize: null }, 'poolSize', /integer, got null/);
test('timeout as null', invalid, { timeoutMs: null }, 'timeoutMs', /integer, got null/);
test('CPU time as null', invalid, { cpuTimeMs: null }, 'cpuTimeMs', /integer, got null/);
test('stopOnOutputLimit as a string', invalid, { stopOnOutputLimit: 'yes' }, 'stopOnOutputLimit', /true or false, got the string "yes"/);
test('allowExec as a number', invalid, { allowExec: 1 }, 'allowExec', /true or false, got/);
test('memory below what keeps the agent out of the OOM killer\'s choice', invalid, { memoryLimitMb: 31 }, 'memoryLimitMb', /between 32 and/);
test('no process at all', invalid, { pidsLimit: 0 }, 'pidsLimit', /between 1 and/);

test('the bottoms of the program limits are accepted: 32 MiB, one process', (t) => {
  t.like(new Sandbox({ memoryLimitMb: 32, pidsLimit: 1 }).options, { memoryLimitMb: 32, pidsLimit: 1 });
});
test('preload that is not a module name', invalid, { preload: ['numpy', 'os; rm -rf /'] }, 'preload[1]', /module name/);
test('preload as a string', invalid, { preload: 'numpy' }, 'preload', /array of module names/);
