/**
 * The house's rules, checked by dependency-cruiser (test/unit/layers.test.ts, so in `npm
 * test` and CI). Floors, from the ground up; arrows run one way:
 *
 *   contract/        the facts both sides share: layout, limits, labels, errors, the agent's wire,
 *                    the runner's vocabulary, gVisor's flags. Imports nothing of ours.
 *   agent/ pool/     peers on the contract: agent/ runs inside the container, pool/ is the
 *                    library on the host; neither imports the other.
 *   host/ image/     peers over pool/: the host's administration (doctor, runtime
 *                    registration) and the image builder, which reach the engine through
 *                    pool's docker.ts, runtime.ts and image.ts (the image's identity).
 *   wire/            the service's format, shared by mcp/, service/, remote/ and the page.
 *   mcp/             the MCP server, carried by service/ (/mcp) and cli/ (stdio).
 *   service/ remote/ peers over the wire.
 *   cli/ bench/      on top.
 *
 * Above pool/, only its public faces: pool/index.ts, and pool/image.ts, the image's identity.
 *
 * It reads what tsc compiled (dist/): dependency-cruiser parses TypeScript only through
 * TypeScript below 7, and this project builds with 7. So type-only imports, which load
 * nothing, are not seen.
 */
const OURS = 'contract|agent|pool|host|image|wire|mcp|service|remote|cli|bench';
const above = (...floors) => `^dist/(${floors.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No module may import itself back, however far round.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'contract-is-the-ground',
      severity: 'error',
      comment: 'contract/ holds the facts every floor derives from: it imports nothing of ours.',
      from: { path: '^dist/contract/' },
      to: { path: `^dist/(${OURS.replace('contract|', '')})/` },
    },
    {
      name: 'agent-stands-on-the-contract',
      severity: 'error',
      comment: 'agent/ runs inside the container: of ours, it imports the contract alone.',
      from: { path: '^dist/agent/' },
      to: { path: above('pool', 'host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench') },
    },
    {
      name: 'pool-does-not-look-up',
      severity: 'error',
      comment: 'pool/ is the library: it reaches the agent through the contract, and imports nothing built on it.',
      from: { path: '^dist/pool/' },
      to: { path: above('agent', 'host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench') },
    },
    {
      name: 'host-and-image-are-peers',
      severity: 'error',
      comment: 'host/ and image/ stand side by side over pool/: neither imports the other, nor anything above.',
      from: { path: '^dist/(host|image)/' },
      to: { path: above('host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench'), pathNot: '^dist/$1/' },
    },
    {
      name: 'host-and-image-reach-the-engine-through-pool',
      severity: 'error',
      comment: "host/ and image/ use pool's public faces and its engine: docker.ts, runtime.ts, image.ts.",
      from: { path: '^dist/(host|image)/' },
      to: { path: '^dist/pool/', pathNot: '^dist/pool/(index|image|docker|runtime)\\.js$' },
    },
    {
      name: 'upper-layers-use-pool-public-faces',
      severity: 'error',
      comment: "Above host/ and image/, only pool's public faces: pool/index.ts, and pool/image.ts (the image's identity).",
      from: { path: above('wire', 'mcp', 'service', 'remote', 'cli', 'bench') },
      to: { path: '^dist/pool/', pathNot: '^dist/pool/(index|image)\\.js$' },
    },
    {
      name: 'upper-layers-never-reach-into-the-agent',
      severity: 'error',
      comment: "The agent's side of the contract is the contract's: nothing above pool/ imports agent/.",
      from: { path: above('host', 'image', 'wire', 'mcp', 'service', 'remote', 'cli', 'bench') },
      to: { path: '^dist/agent/' },
    },
    {
      name: 'wire-is-below-its-users',
      comment: 'wire/ is the format mcp/, service/ and remote/ share: it imports none of them, nor the builders.',
      severity: 'error',
      from: { path: '^dist/wire/' },
      to: { path: above('host', 'image', 'mcp', 'service', 'remote', 'cli', 'bench') },
    },
    {
      name: 'mcp-is-below-its-transports',
      comment: 'mcp/ is the MCP server that warmbox serve (/mcp) and warmbox mcp (stdio) carry: it imports neither, nor the remote client.',
      severity: 'error',
      from: { path: '^dist/mcp/' },
      to: { path: above('host', 'image', 'service', 'remote', 'cli', 'bench') },
    },
    {
      name: 'service-and-remote-are-peers',
      severity: 'error',
      comment: 'service/ and remote/ share the wire, not each other: neither imports the other, nor anything above.',
      from: { path: '^dist/(service|remote)/' },
      to: { path: above('service', 'remote', 'host', 'image', 'cli', 'bench'), pathNot: '^dist/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The agent's bundle holds all of its sources in one file; the sources themselves are cruised.
    exclude: { path: '^dist/(test|examples)/|^dist/agent/agent\\.cjs$|\\.d\\.ts$' },
  },
};
