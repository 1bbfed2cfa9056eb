import { agentImageTag, defaultBaseImage, PACKAGE_ROOT } from '../../pool/image.js';

/** The packages of the data-science image `npm run build:image:data` builds (and .ci/run). */
export const DATA_PACKAGES = ['python3-matplotlib', 'python3-numpy', 'python3-pandas'];

/** That image's tag, computed as build-image computes it. */
export function dataImageTag(): string {
  const tag = agentImageTag(defaultBaseImage(PACKAGE_ROOT, DATA_PACKAGES));
  if (tag === undefined) throw new Error('the agent is not bundled: npm run build');
  return tag;
}
