/**
 * The steps both builds take (image/build-image.ts, the agent's; image/build-service-image.ts,
 * the service's): the offline base, a command's output kept off stdout, a build through the
 * engine's API. A module of their own, so that neither build imports the other.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type Docker from 'dockerode';
import { dockerFailed, imageExists } from '../pool/docker.js';
import { BASE_RECIPE, defaultBaseImage, PACKAGE_ROOT } from '../pool/image.js';

/** What every build takes. */
export interface BuildCommonOptions {
  /** Build the image again even if an image with its tag exists. @default false */
  readonly rebuild?: boolean;
  /** dockerode's connection options. @default DOCKER_HOST, else /var/run/docker.sock */
  readonly docker?: Docker.DockerOptions;
  /** Where progress goes, a line at a time. @default nothing */
  readonly log?: (line: string) => void;
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
