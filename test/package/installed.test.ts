/**
 * warmbox as users get it: `npm pack`, installed into a new project with only its runtime
 * dependencies, the image built from there with `npx warmbox build-image`, and a job run
 * from an ES module and from a CommonJS `require('warmbox')`.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { agentImageTag, BASE_RECIPE, IMAGE_CONTEXT_FILES, PACKAGE_ROOT } from '../../pool/image.js';
import { listening } from '../helpers/serve-process.js';

const exec = promisify(execFile);
const quiet = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

async function sh(command: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec(command, args, { cwd, env: quiet, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/**
 * Packs a copy of the working tree, so that `prepack` (the build) runs as it does for a
 * release without rewriting this checkout's dist/ under the tests running beside this one.
 */
async function pack(into: string): Promise<{ tarball: string; files: string[] }> {
  const copy = join(into, 'source');
  await mkdir(copy);
  const tracked = (await sh('git', ['ls-files', '-co', '--exclude-standard'], PACKAGE_ROOT)).split('\n').filter(Boolean);
  await Promise.all(tracked.map((file) => cp(join(PACKAGE_ROOT, file), join(copy, file), { recursive: true }).catch(() => {})));
  await symlink(join(PACKAGE_ROOT, 'node_modules'), join(copy, 'node_modules'));
  const [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', into], copy)) as [
    { filename: string; files: Array<{ path: string }> },
  ];
  return { tarball: join(into, packed.filename), files: packed.files.map((f) => f.path) };
}

test('npm pack -> installed without devDependencies, builds its image and runs jobs from ESM and CommonJS', async (t) => {
  t.timeout(8 * 60_000);
  const dir = await mkdtemp(join(tmpdir(), 'warmbox-package-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { tarball, files } = await pack(dir);

  // Everything the image and the library need is in the package, and nothing else.
  for (const needed of [...IMAGE_CONTEXT_FILES, BASE_RECIPE, 'package.json', 'README.md', 'dist/pool/index.js', 'dist/pool/index.d.ts', 'dist/cli/warmbox.js', 'dist/service/serve.js', 'dist/remote/remote-sandbox.js', 'dist/web-ide/index.html', 'dist/web-ide/page.js']) {
    t.true(files.includes(needed), `the package lacks ${needed}`);
  }
  // The one example shipped is the page `warmbox serve --demo` serves.
  const stray = files.filter((f) => /^(?:(?:test|bench|\.ci|dist\/(?:test|bench))\/|examples\/)|__pycache__|\.map$|\.tgz$|(?<!\.d)\.ts$|compile-schemas|schemas\.generated/.test(f));
  t.deepEqual(stray, []);

  const app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await sh('npm', ['install', '--omit=dev', '--prefer-offline', tarball], app);
  const installed = await sh('npm', ['ls', '--all', '--parseable'], app);
  // fastify is the service's (warmbox serve); the agent's python-shell and picomatch are bundled.
  for (const devOnly of ['typescript', 'esbuild', 'python-shell', 'picomatch', 'playwright-core', 'tsx', 'ava']) {
    t.false(installed.includes(`/node_modules/${devOnly}\n`), `${devOnly} was installed`);
  }

  // The tag the installed package builds is the one this checkout computes for the same code.
  const built = await sh('npx', ['--no', 'warmbox', 'build-image', '--rebuild'], app);
  t.is(built.trim(), agentImageTag() ?? 'the checkout is not built');

  const job = `{ code: 'import sys\\nprint("from", data)\\nresult = {"total": sum(range(10)), "v": sys.version_info[0]}', data: 'the package' }`;
  await writeFile(join(app, 'esm.mjs'), `
    import { Sandbox } from 'warmbox';
    import { buildImage } from 'warmbox/build-image';
    const sandbox = new Sandbox(1);
    await sandbox.initialize();
    try {
      console.log(JSON.stringify({ ...(await sandbox.run(${job})), buildImage: typeof buildImage }));
    } finally {
      await sandbox.close();
    }
  `);
  await writeFile(join(app, 'cjs.cjs'), `
    const { Sandbox, ERROR_CODES } = require('warmbox');
    (async () => {
      const sandbox = new Sandbox({ poolSize: 1 });
      await sandbox.initialize();
      try {
        console.log(JSON.stringify({ ...(await sandbox.run(${job})), codes: ERROR_CODES.length }));
      } finally {
        await sandbox.close();
      }
    })();
  `);
  for (const [file, extra] of [['esm.mjs', { buildImage: 'function' }], ['cjs.cjs', { codes: (await import('../../pool/index.js')).ERROR_CODES.length }]] as const) {
    const r = JSON.parse(await sh(process.execPath, [file], app)) as Record<string, unknown>;
    t.like(r, { status: 'ok', stdout: 'from the package\n', result: { total: 45, v: 3 }, ...extra }, file);
  }
  t.is(JSON.parse(await readFile(join(app, 'node_modules/warmbox/package.json'), 'utf8')).name, 'warmbox');

  // The service and its demo page come with the package: warmbox serve answers a job.
  // The installed bin itself, not through npx, which would not pass SIGTERM on.
  const server = spawn(join(app, 'node_modules', '.bin', 'warmbox'), ['serve', '--port', '0', '--pool', '1', '--demo'], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => server.kill('SIGKILL'));
  const { address: url } = await listening(server);
  const answer = await fetch(`${url}/v1/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'result = 6 * 7' }) });
  t.like(await answer.json(), { status: 'ok', result: 42 });
  t.regex(await (await fetch(url)).text(), /<title>warmbox<\/title>/);
  server.kill('SIGTERM');
  t.is(((await once(server, 'exit')) as [number | null])[0], 0);
});
