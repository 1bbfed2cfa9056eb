import { agentImageTag, DATA_PACKAGES, defaultBaseImage, PACKAGE_ROOT } from '../../pool/image.js';

/** That image's tag, computed as build-image computes it. */
export function dataImageTag(): string {
  const tag = agentImageTag(defaultBaseImage(PACKAGE_ROOT, DATA_PACKAGES));
  if (tag === undefined) throw new Error('the agent is not bundled: npm run build');
  return tag;
}
