import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What the agent image copies in, relative to the package root, each by the build argument
 * Dockerfile.agent names it with: the one list of the image's inputs. The tag digests them,
 * the build sends them as its context, and package.json's `files` must hold them (a test
 * checks it).
 */
export const IMAGE_INPUTS = Object.freeze({
  AGENT_BOOT: 'agent/boot.cjs',
  AGENT_BUNDLE: 'dist/agent/agent.cjs',
  RUNNER_SOURCE: 'agent/runner.py',
  FIGURES_BACKEND: 'agent/warmbox_figures.py',
});
/** The files the agent image is built from: its Dockerfile and its inputs. */
export const IMAGE_CONTEXT_FILES: readonly string[] = Object.freeze(['Dockerfile.agent', ...Object.values(IMAGE_INPUTS)]);
export const BASE_RECIPE = 'image/build-base.sh';
/** The packages of the data image (`npm run build:image:data`, the tests, the bench): the data-science three, and pip and requests, for network jobs. */
export const DATA_PACKAGES: readonly string[] = ['python3-matplotlib', 'python3-numpy', 'python3-pandas', 'python3-pip', 'python3-requests'];

/** The root of the warmbox package, found from this file whether it runs from source or dist/. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** This version of warmbox, as its package.json says. */
export function warmboxVersion(root = PACKAGE_ROOT): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The base image built offline by image/build-base.sh, with any extra Debian packages; its
 * tag follows the recipe's content and the package list.
 */
export function defaultBaseImage(root = PACKAGE_ROOT, packages: readonly string[] = []): string {
  const parts = [readFileSync(join(root, BASE_RECIPE))];
  if (packages.length > 0) parts.push(Buffer.from([...new Set(packages)].sort().join(',')));
  return `warmbox-base:${digest(parts)}`;
}

/**
 * The agent image's tag: a digest of everything that goes into it, the base included. A
 * change to the agent gives a new tag, so an image built from older code is never used.
 * Returns undefined when the agent is not bundled yet (`npm run build`).
 */
export function agentImageTag(base = defaultBaseImage(), root = PACKAGE_ROOT): string | undefined {
  const paths = IMAGE_CONTEXT_FILES.map((file) => join(root, file));
  if (!paths.every((path) => existsSync(path))) return undefined;
  return `warmbox-agent:${digest([Buffer.from(base), ...paths.map((path) => readFileSync(path))])}`;
}

/** A short hex digest of several parts, each hashed on its own so that their boundaries count. */
export function digest(parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(createHash('sha256').update(part).digest());
  return hash.digest('hex').slice(0, 16);
}

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Dockerfile.agent'))) return dir;
    if (dirname(dir) === dir) throw new Error(`warmbox: no Dockerfile.agent above ${from}`);
  }
}
