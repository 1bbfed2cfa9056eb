/**
 * Builds the agent image, and first the offline base image it needs, from the files the
 * installed package ships: nothing here needs TypeScript, a bundler or any devDependency.
 * Either image is skipped when one of the same content exists, so running it again is cheap.
 * `warmbox build-image` (cli/warmbox.ts) is its command line.
 */
import { LAYOUT_BUILD_ARGS } from '../contract/layout.js';
import { connectDocker, imageExists } from '../pool/docker.js';
import { InvalidArgumentError } from '../contract/errors.js';
import { agentImageTag, IMAGE_CONTEXT_FILES, IMAGE_INPUTS, PACKAGE_ROOT } from '../pool/image.js';
import { buildFromContext, ensureBaseImage, type BuildCommonOptions } from './build-steps.js';

// warmbox/build-image is the entry of both builds.
export { buildServiceImage, type BuildServiceImageOptions } from './build-service-image.js';

export interface BuildImageOptions extends BuildCommonOptions {
  /**
   * An image with python3 and Node 20 to build on, from a registry where one is reachable
   * (`node:20-bookworm`). By default warmbox's own base, built offline with debootstrap.
   */
  readonly base?: string;
  /**
   * More Debian packages in the base, such as `python3-numpy`, `python3-pandas`,
   * `python3-matplotlib`: installed offline like the rest, with their dependencies. The tag
   * follows the list, so each list is an image of its own. Needs warmbox's own base.
   * @default []
   */
  readonly packages?: readonly string[];
}

/** Builds what is missing and resolves with the agent image's tag, the one `Sandbox` uses by default. */
export async function buildImage(options: BuildImageOptions = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const packages = checkPackages(options.packages ?? []);
  if (options.base !== undefined && packages.length > 0) {
    throw new InvalidArgumentError('packages', 'are installed into warmbox\'s own base: leave out base, or install them in yours');
  }
  const docker = await connectDocker(options.docker ?? {});
  const base = options.base ?? (await ensureBaseImage(docker, packages, log));
  const tag = agentImageTag(base);
  if (tag === undefined) {
    throw new Error('the agent is not bundled: in a clone of warmbox, run `npm run build` first');
  }
  if (!options.rebuild && (await imageExists(docker, tag))) {
    log(`agent image ${tag} is up to date`);
    return tag;
  }
  await buildFromContext(
    docker,
    { context: PACKAGE_ROOT, src: [...IMAGE_CONTEXT_FILES] },
    { t: tag, dockerfile: 'Dockerfile.agent', buildargs: { BASE: base, ...LAYOUT_BUILD_ARGS, ...IMAGE_INPUTS } },
    log,
  );
  log(`agent image ${tag} built`);
  return tag;
}

// Debian's rule for a package name.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

function checkPackages(packages: readonly string[]): string[] {
  if (!Array.isArray(packages)) throw new InvalidArgumentError('packages', 'must be an array of Debian package names');
  for (const name of packages) {
    if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) {
      throw new InvalidArgumentError('packages', `must be Debian package names such as python3-numpy, got ${JSON.stringify(name)}`);
    }
  }
  return [...new Set(packages)].sort();
}
