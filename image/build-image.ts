/**
 * `npm run build:image`: builds the agent image, and first the offline base image it needs.
 * Either is skipped when an image of the same content exists.
 *
 *   npm run build:image                          base from Debian packages, no registry
 *   npm run build:image -- --base node:20-bookworm   base from a registry, where one is reachable
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { agentImageTag, BASE_RECIPE, defaultBaseImage, IMAGE_CONTEXT_FILES, PACKAGE_ROOT } from '../pool/image.js';

const { values } = parseArgs({ options: { base: { type: 'string' } } });
const docker = new Docker();

async function exists(image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

const base = values.base ?? defaultBaseImage();
if (values.base === undefined && !(await exists(base))) {
  const built = spawnSync('bash', [BASE_RECIPE, base], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

const tag = agentImageTag(base);
if (tag === undefined) {
  console.error('build-image: the agent is not bundled; run `npm run build` first');
  process.exit(1);
}
if (await exists(tag)) {
  console.log(`agent image ${tag} is up to date`);
} else {
  const stream = await docker.buildImage(
    { context: PACKAGE_ROOT, src: [...IMAGE_CONTEXT_FILES] },
    { t: tag, dockerfile: 'Dockerfile.agent', buildargs: { BASE: base }, rm: true, forcerm: true },
  );
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<{ error?: string }>) => {
        const failure = error?.message ?? output.find((event) => event.error)?.error;
        if (failure) reject(new Error(failure));
        else resolve();
      },
      (event: { stream?: string }) => {
        if (event.stream) process.stdout.write(event.stream);
      },
    );
  });
  console.log(`agent image ${tag} built`);
}
