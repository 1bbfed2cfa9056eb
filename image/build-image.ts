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
import { agentImageTag, BASE_RECIPE, defaultBaseImage, IMAGE_CONTEXT_FILES, PACKAGE_ROOT } from '../pool/image.js';

export interface BuildImageOptions {
  /**
   * An image with python3 and Node 20 to build on, from a registry where one is reachable
   * (`node:20-bookworm`). By default warmbox's own base, built offline with debootstrap.
   */
  readonly base?: string;
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
  const docker = await connectDocker(options.docker ?? {});
  const base = options.base ?? defaultBaseImage();
  if (options.base === undefined && !(await imageExists(docker, base))) {
    log(`building the base image ${base} with debootstrap (needs root; about a minute)`);
    await runBaseRecipe(base);
  }
  const tag = agentImageTag(base);
  if (tag === undefined) {
    throw new Error('the agent is not bundled: in a clone of warmbox, run `npm run build` first');
  }
  if (!options.rebuild && (await imageExists(docker, tag))) {
    log(`agent image ${tag} is up to date`);
    return tag;
  }
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(
      { context: PACKAGE_ROOT, src: [...IMAGE_CONTEXT_FILES] },
      {
        t: tag,
        dockerfile: 'Dockerfile.agent',
        buildargs: { BASE: base, PROGRAM_UID: String(PROGRAM_UID), WORK_DIR, RUNNER_PATH },
        rm: true,
        forcerm: true,
      },
    );
  } catch (error) {
    throw dockerFailed(`build the image ${tag}`, error);
  }
  await followBuild(docker, stream, log);
  log(`agent image ${tag} built`);
  return tag;
}

async function runBaseRecipe(tag: string): Promise<void> {
  const child = spawn('bash', [BASE_RECIPE, tag], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (code !== 0) throw new Error(`${BASE_RECIPE} failed (${code ?? signal}); what it printed above says why`);
}

function followBuild(docker: Docker, stream: NodeJS.ReadableStream, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
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
