import test from 'ava';
import { RuntimeMisconfiguredError, RuntimeNotFoundError } from '../../pool/index.js';
import { mergeGvisorRuntime } from '../../host/register-runtime.js';
import { inspectRuntime, parseGoFlags, type EngineRuntimes } from '../../pool/runtime.js';
import { parseRunscRelease, runscBuildDifferences } from '../../contract/gvisor.js';

const RUNSC = '/usr/bin/runsc';
const engine = (runsc: string[] | undefined): EngineRuntimes => ({
  runc: { path: 'runc' },
  ...(runsc === undefined ? {} : { runsc: { path: RUNSC, runtimeArgs: runsc } }),
});

test('runc -> kind runc; runsc with --host-uds=all and --network=none -> kind gvisor, its flags kept', (t) => {
  t.like(inspectRuntime('runc', engine(undefined)), { name: 'runc', kind: 'runc' });
  t.like(inspectRuntime('runsc', engine(['--host-uds=all', '--network=none'])), { name: 'runsc', kind: 'gvisor', path: RUNSC, args: ['--host-uds=all', '--network=none'] });
  // Go's other spellings, and create, which also lets the host connect to the agent's socket.
  t.like(inspectRuntime('runsc', engine(['-host-uds', 'create', '-network', 'none', '--debug'])), { kind: 'gvisor' });
  // gVisor by its binary, whatever the engine calls it.
  t.like(inspectRuntime('secure', { secure: { path: '/opt/gvisor/runsc', runtimeArgs: ['--host-uds=all', '--network=none'] } }), { kind: 'gvisor' });
});

test('a runtime the engine does not have -> RuntimeNotFoundError naming those it has and how to register runsc', (t) => {
  const error = t.throws(() => inspectRuntime('runsc', engine(undefined)), { instanceOf: RuntimeNotFoundError });
  t.deepEqual(error!.available, ['runc']);
  t.regex(error!.message, /has no runtime "runsc" \(option runtime; it has runc\).*warmbox doctor --fix-runtime runsc/);
  // Not a key of Object.prototype either.
  t.throws(() => inspectRuntime('constructor', engine(undefined)), { instanceOf: RuntimeNotFoundError });
});

test('runsc without --host-uds=all (or create) -> RuntimeMisconfiguredError with the flag and the fix', (t) => {
  for (const args of [['--network=none'], ['--host-uds=open', '--network=none']]) {
    const error = t.throws(() => inspectRuntime('runsc', engine(args)), { instanceOf: RuntimeMisconfiguredError });
    t.is(error!.code, 'WARMBOX_ERR_RUNTIME_MISCONFIGURED');
    t.is(error!.flag, '--host-uds=all');
    t.regex(error!.message, /the host could never reach it.*"runtimeArgs": \["--host-uds=all", "--network=none"\].*kill -HUP/);
  }
});

test('runsc without --network=none -> RuntimeMisconfiguredError with the flag and the fix', (t) => {
  for (const args of [['--host-uds=all'], ['--host-uds=all', '--network=sandbox']]) {
    const error = t.throws(() => inspectRuntime('runsc', engine(args)), { instanceOf: RuntimeMisconfiguredError });
    t.is(error!.flag, '--network=none');
    t.regex(error!.message, /without --network=none.*refuses to start/);
  }
});

test('parseGoFlags: -f, --f, -f=v, --f v, booleans without a value, the last of a repeated flag, stops at --', (t) => {
  t.deepEqual(
    Object.fromEntries(parseGoFlags(['-a=1', '--b', '2', '--debug', '-c', '--a=3', '--', '--d=4'])),
    { a: '3', b: '2', debug: 'true', c: 'true' },
  );
});

test('mergeGvisorRuntime: adds runsc with the flags, keeps every other setting and the runtime\'s other flags', (t) => {
  const before = { 'log-level': 'warn', runtimes: { kata: { path: '/usr/bin/kata' }, runsc: { path: '/old/runsc', runtimeArgs: ['--platform=ptrace', '--network=sandbox', '--debug'] } } };
  t.deepEqual(mergeGvisorRuntime(before, 'runsc', RUNSC), {
    'log-level': 'warn',
    runtimes: {
      kata: { path: '/usr/bin/kata' },
      runsc: { path: RUNSC, runtimeArgs: ['--host-uds=all', '--network=none', '--platform=ptrace', '--debug=true'] },
    },
  });
  t.deepEqual(mergeGvisorRuntime({}, 'runsc', RUNSC), { runtimes: { runsc: { path: RUNSC, runtimeArgs: ['--host-uds=all', '--network=none'] } } });
  // What it writes passes its own check.
  const merged = mergeGvisorRuntime(before, 'runsc', RUNSC) as { runtimes: EngineRuntimes };
  t.like(inspectRuntime('runsc', merged.runtimes), { kind: 'gvisor' });
});

test('parseRunscRelease -> the release date of Debian\'s and gVisor\'s own version lines; undefined for a build that names none', (t) => {
  t.is(parseRunscRelease('runsc version 0.0~20221219.0\nspec: 1.0.2-dev\n'), 20221219);
  t.is(parseRunscRelease('runsc version release-20240729.0\nspec: 1.1.0\n'), 20240729);
  t.is(parseRunscRelease('runsc version VERSION_MISSING\n'), undefined);
});

test('runscBuildDifferences -> each fault for the releases it is known in, none for a later or unknown release', (t) => {
  const whats = (release: number | undefined) => runscBuildDifferences(release).map((difference) => difference.what.slice(0, 30));
  t.deepEqual(whats(20221219), ['`ls -l` fails on every path (`']);
  t.deepEqual(whats(20240729), ['`ls -l` prints `Bad file descr', 'a program that passes `memoryL']);
  t.deepEqual(whats(20250101), []);
  t.deepEqual(whats(undefined), []);
});
