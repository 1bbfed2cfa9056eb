/**
 * What the suites need of the machine, which README's set-up command (`npm run setup`) gives:
 * a test that finds one missing fails at once, naming the thing and that command, rather than
 * failing later on an error of its own.
 */
import { access, constants } from 'node:fs/promises';
import Docker from 'dockerode';
import { agentImageTag, DATA_PACKAGES, defaultBaseImage, PACKAGE_ROOT } from '../../pool/image.js';

/** README's set-up command. */
export const SETUP_COMMAND = 'npm run setup';

export class NotSetUpError extends Error {
  constructor(what: string) {
    super(`${what} is missing: run \`${SETUP_COMMAND}\` (as root) first, as README's Quick start says`);
  }
}

/** An executable at `path` (Chromium, HAProxy, runsc). */
export async function requireProgram(path: string): Promise<string> {
  await access(path, constants.X_OK).catch(() => {
    throw new NotSetUpError(path);
  });
  return path;
}

/** A runtime of that name registered with the engine (runsc, by `warmbox doctor --fix-runtime runsc`). */
export async function requireRuntime(name: string, docker = new Docker()): Promise<void> {
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  if (info.Runtimes?.[name] === undefined) throw new NotSetUpError(`the engine's runtime ${name}`);
}

/** The tag of the data image (numpy, pandas, matplotlib), built as build-image builds it; the image on the engine. */
export async function requireDataImage(docker = new Docker()): Promise<string> {
  const tag = agentImageTag(defaultBaseImage(PACKAGE_ROOT, DATA_PACKAGES));
  if (tag === undefined) throw new NotSetUpError('the bundled agent (npm run build)');
  await docker.getImage(tag).inspect().catch(() => {
    throw new NotSetUpError(`the data image ${tag}`);
  });
  return tag;
}
