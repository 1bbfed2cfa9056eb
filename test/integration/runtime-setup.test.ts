/**
 * Setting up gVisor, against an engine of the test's own whose daemon.json the test writes:
 * each wrong configuration is a typed error that names its fix, before any container is
 * made; `warmbox doctor` reports each; registerGvisor() mends daemon.json, keeping the rest,
 * and reloads the engine, after which a Sandbox on runsc runs a job.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import test from 'ava';
import { agentImageTag } from '../../pool/image.js';
import { registerGvisor } from '../../host/index.js';
import { InvalidArgumentError, RuntimeMisconfiguredError, RuntimeNotFoundError, Sandbox } from '../../pool/index.js';
import { OwnEngine } from '../helpers/own-engine.js';

const execFileAsync = promisify(execFile);
const image = agentImageTag()!;
const CLI = new URL('../../dist/cli/warmbox.js', import.meta.url).pathname;

// One engine, set up once: runsc under four names, three of them wrong.
const CONFIG = {
  labels: ['warmbox.test=runtime-setup'],
  runtimes: {
    'runsc-no-uds': { path: '/usr/bin/runsc', runtimeArgs: ['--network=none'] },
    'runsc-network': { path: '/usr/bin/runsc', runtimeArgs: ['--host-uds=all'] },
    'runsc-mended': { path: '/usr/bin/runsc', runtimeArgs: ['--platform=ptrace'] },
  },
};
let engine: OwnEngine;
test.before(async () => {
  engine = await OwnEngine.create([image], CONFIG);
});
test.after.always(() => engine?.dispose());

async function containerCount(): Promise<number> {
  return (await engine.docker.listContainers({ all: true })).length;
}

test.serial('a runtime the engine does not have -> RuntimeNotFoundError at initialize(), naming the fix; no container', async (t) => {
  const sandbox = new Sandbox({ poolSize: 1, runtime: 'runsc', docker: { socketPath: engine.socketPath } });
  const error = await t.throwsAsync(sandbox.initialize(), { instanceOf: RuntimeNotFoundError });
  t.regex(error!.message, /apt-get install runsc.*warmbox doctor --fix-runtime runsc/);
  t.true(error!.available.includes('runc'));
  t.is(await containerCount(), 0);
});

test.serial('runsc without --host-uds=all, or without --network=none -> RuntimeMisconfiguredError naming the flag and the fix; no container', async (t) => {
  for (const [runtime, flag] of [['runsc-no-uds', '--host-uds=all'], ['runsc-network', '--network=none']] as const) {
    const sandbox = new Sandbox({ poolSize: 1, runtime, docker: { socketPath: engine.socketPath } });
    const error = await t.throwsAsync(sandbox.initialize(), { instanceOf: RuntimeMisconfiguredError });
    t.is(error!.flag, flag);
    t.regex(error!.message, /To fix it, register it in \/etc\/docker\/daemon\.json/);
  }
  t.is(await containerCount(), 0);
});

test.serial('warmbox doctor --json -> the engine, the cgroup version, the images and each runtime, with a fix for each wrong one; exit 1', async (t) => {
  const run = await execFileAsync('node', [CLI, 'doctor', '--json'], { env: { ...process.env, DOCKER_HOST: `unix://${engine.socketPath}` } }).catch((error: { code: number; stdout: string }) => error);
  t.is((run as { code?: number }).code, 1);
  const findings = JSON.parse(run.stdout) as { check: string; status: string; fix: string }[];
  const by = Object.fromEntries(findings.map((finding) => [finding.check, finding]));
  t.like(by, {
    engine: { status: 'ok' },
    image: { status: 'ok' },
    'runtime:runc': { status: 'ok' },
    'runtime:runsc-no-uds': { status: 'fail' },
    'runtime:runsc-network': { status: 'fail' },
    'runtime:runsc-mended': { status: 'fail' },
  });
  t.regex(by.cgroup!.status, /^(ok|warn)$/);
  for (const name of ['runsc-no-uds', 'runsc-network', 'runsc-mended']) t.regex(by[`runtime:${name}`]!.fix, /--host-uds=all", "--network=none"/);
});

test.serial('registerGvisor -> daemon.json gains the flags, keeps the rest, the engine reloads, and a Sandbox on it runs a job under gVisor', async (t) => {
  await t.throwsAsync(registerGvisor({ name: 'runsc-mended', runscPath: '/nonexistent/runsc', daemonJson: engine.configFile, pidFile: engine.pidFile }), { instanceOf: InvalidArgumentError });
  const runtime = await registerGvisor({ name: 'runsc-mended', daemonJson: engine.configFile, pidFile: engine.pidFile, docker: { socketPath: engine.socketPath } });
  t.like(runtime, { name: 'runsc-mended', kind: 'gvisor' });
  const written = JSON.parse(readFileSync(engine.configFile, 'utf8')) as typeof CONFIG;
  t.deepEqual(written.labels, CONFIG.labels);
  t.deepEqual(written.runtimes['runsc-no-uds'], CONFIG.runtimes['runsc-no-uds']);
  t.deepEqual(written.runtimes['runsc-mended'].runtimeArgs, ['--host-uds=all', '--network=none', '--platform=ptrace']);
  await using sandbox = new Sandbox({ poolSize: 1, runtime: 'runsc-mended', docker: { socketPath: engine.socketPath } });
  await sandbox.initialize();
  t.like(await sandbox.run({ code: 'import platform\nresult = [platform.release(), sum(data)]', data: [1, 2, 3] }), { status: 'ok', result: ['4.4.0', 6] });
});
