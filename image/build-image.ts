/**
 * Builds the agent image, and first the offline base image it needs, from the files the
 * installed package ships: nothing here needs TypeScript, a bundler or any devDependency.
 * Either image is skipped when one of the same content exists, so running it again is cheap.
 * `warmbox build-image` (cli/warmbox.ts) is its command line.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type Docker from 'dockerode';
import { PROGRAM_UID, RUNNER_PATH, WORK_DIR } from '../agent/protocol.js';
import { connectDocker, dockerFailed, imageExists } from '../pool/docker.js';
import { InvalidArgumentError } from '../pool/errors.js';
import { agentImageTag, BASE_RECIPE, defaultBaseImage, IMAGE_CONTEXT_FILES, PACKAGE_ROOT } from '../pool/image.js';

export { buildServiceImage, type BuildServiceImageOptions } from './build-service-image.js';

export interface BuildImageOptions {
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
  /** Build the agent image again even if an image with its tag exists. @default false */
  readonly rebuild?: boolean;
  /** dockerode's connection options. @default DOCKER_HOST, else /var/run/docker.sock */
  readonly docker?: Docker.DockerOptions;
  /** Where progress goes, a line at a time. @default nothing */
  readonly log?: (line: string) => void;
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
    { t: tag, dockerfile: 'Dockerfile.agent', buildargs: { BASE: base, PROGRAM_UID: String(PROGRAM_UID), WORK_DIR, RUNNER_PATH } },
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

/** warmbox's own base with these Debian packages, built offline by the recipe if missing; resolves with its tag. */
export async function ensureBaseImage(docker: Docker, packages: readonly string[], log: (line: string) => void): Promise<string> {
  const base = defaultBaseImage(PACKAGE_ROOT, packages);
  if (await imageExists(docker, base)) return base;
  log(`building the base image ${base} with debootstrap (needs root; a minute or more with packages)`);
  await runToStderr('bash', [BASE_RECIPE, base, ...packages], PACKAGE_ROOT, BASE_RECIPE);
  return base;
}

/**
 * Runs a command to its end, its output on stderr: a caller of `warmbox build-image` reads
 * only the tag on stdout. Rejects, naming it as `name`, unless it exits 0.
 */
export async function runToStderr(command: string, args: readonly string[], cwd: string, name: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 2, 2] });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (code !== 0) throw new Error(`${name} failed (${code ?? signal}); what it printed above says why`);
}

/** `docker build` of the files `src` under `context`, through the engine's API; resolves once the image is tagged. */
export async function buildFromContext(
  docker: Docker,
  context: { context: string; src: string[] },
  options: { t: string; dockerfile: string; buildargs: Record<string, string> },
  log: (line: string) => void,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(context, { ...options, rm: true, forcerm: true });
  } catch (error) {
    throw dockerFailed(`build the image ${options.t}`, error);
  }
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<{ error?: string }>) => {
        const failure = error?.message ?? output.find((event) => event.error)?.error;
        if (failure) reject(new Error(`the image build failed: ${failure}`));
        else resolve();
      },
      (event: { stream?: string }) => {
        const line = event.stream?.trimEnd();
        if (line) log(line);
      },
    );
  });
}
