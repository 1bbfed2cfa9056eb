/**
 * Builds the image of `warmbox serve` (deploy/Dockerfile.service) offline, like the agent's:
 * warmbox's debootstrap base for Node, and this very package, packed by npm and installed
 * with its production dependencies from the npm registry into a staging directory on the
 * host. Nothing is fetched inside the build, so no registry needs to be reachable from
 * containers. `warmbox build-image --service` is its command line.
 */
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDocker, imageExists } from '../pool/docker.js';
import { digest, PACKAGE_ROOT } from '../pool/image.js';
import { buildFromContext, ensureBaseImage, runToStderr, type BuildCommonOptions } from './build-steps.js';

export const SERVICE_DOCKERFILE = 'deploy/Dockerfile.service';

export type BuildServiceImageOptions = BuildCommonOptions;

/**
 * Builds what is missing and resolves with the service image's tag, `warmbox-service:DIGEST`.
 * The digest covers the packed package, the Dockerfile and the base, so a change to any of
 * them gives a new tag; the agent image the service starts is the default one of the same
 * package, which `buildImage()` builds on each engine the service uses.
 */
export async function buildServiceImage(options: BuildServiceImageOptions = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const docker = await connectDocker(options.docker ?? {});
  const base = await ensureBaseImage(docker, [], log);
  const stage = await mkdtemp(join(tmpdir(), 'warmbox-service-'));
  try {
    // --ignore-scripts: a clone's prepack would build with devDependencies; an installed
    // package ships what it needs already built.
    await npm(['pack', '--silent', '--ignore-scripts', '--pack-destination', stage, PACKAGE_ROOT], stage);
    const tarball = (await readdir(stage)).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack wrote no tarball');
    const dockerfile = await readFile(join(PACKAGE_ROOT, SERVICE_DOCKERFILE));
    const tag = `warmbox-service:${digest([Buffer.from(base), dockerfile, await readFile(join(stage, tarball))])}`;
    if (!options.rebuild && (await imageExists(docker, tag))) {
      log(`service image ${tag} is up to date`);
      return tag;
    }
    log(`installing ${tarball} and its production dependencies`);
    await writeFile(join(stage, 'package.json'), JSON.stringify({ private: true, dependencies: { warmbox: `file:./${tarball}` } }));
    // Optional dependencies are native speed-ups (ssh2's cpu-features) built for the host's
    // libc; the service reaches its engine through a Unix socket and needs none of them.
    await npm(['install', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], stage);
    await copyFile(join(PACKAGE_ROOT, SERVICE_DOCKERFILE), join(stage, 'Dockerfile'));
    await buildFromContext(docker, { context: stage, src: ['Dockerfile', 'node_modules'] }, { t: tag, dockerfile: 'Dockerfile', buildargs: { BASE: base } }, log);
    log(`service image ${tag} built`);
    return tag;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

function npm(args: string[], cwd: string): Promise<void> {
  return runToStderr('npm', args, cwd, `npm ${args[0]}`);
}
