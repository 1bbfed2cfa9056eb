/**
 * The house's rules, checked by dependency-cruiser (test/unit/layers.test.ts, so in `npm
 * test` and CI). agent/ is on the ground (it runs inside the container), pool/ above it, then
 * image/ and wire/ (the service's format, shared by service/ and remote/), mcp/ on wire/, then
 * service/ and remote/, then cli/ and bench/; arrows run one way, and a layer above pool/ uses its public
 * faces only: pool/index.ts, pool/errors.ts (warmbox/errors), pool/limits.ts (the limits,
 * loading nothing), pool/report-schema.ts (the agent's report as JSON Schema, loading
 * nothing), and pool/image.ts, the image's identity (package root, tag, build context) that
 * the pool and the image builder share. image/ builds through the engine, so pool/docker.ts
 * is its too.
 *
 * It reads what tsc compiled (dist/): dependency-cruiser parses TypeScript only through
 * TypeScript below 7, and this project builds with 7. So type-only imports, which load
 * nothing, are not seen.
 */
const UPPER = '^dist/(wire|mcp|service|remote|cli|bench)/';
const FACES = 'index|errors|image|limits|report-schema';

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
      name: 'agent-stays-on-the-ground',
      severity: 'error',
      comment: 'agent/ runs inside the container: it imports nothing of the layers above it.',
      from: { path: '^dist/agent/' },
      to: { path: '^dist/(pool|image|wire|mcp|service|remote|cli|bench)/' },
    },
    {
      name: 'pool-does-not-look-up',
      severity: 'error',
      comment: 'pool/ is the library: it imports nothing of the layers built on it.',
      from: { path: '^dist/pool/' },
      to: { path: '^dist/(image|wire|mcp|service|remote|cli|bench)/' },
    },
    {
      name: 'upper-layers-use-pool-public-faces',
      severity: 'error',
      comment: "Above pool/, only its public faces: pool/index.ts, pool/errors.ts (warmbox/errors), pool/limits.ts, pool/report-schema.ts, pool/image.ts (the image's identity).",
      from: { path: UPPER },
      to: { path: '^dist/pool/', pathNot: `^dist/pool/(${FACES})\\.js$` },
    },
    {
      name: 'image-builds-through-pool-engine',
      severity: 'error',
      comment: 'image/ builds through the engine: the public faces, and pool/docker.ts.',
      from: { path: '^dist/image/' },
      to: { path: '^dist/pool/', pathNot: `^dist/pool/(${FACES}|docker)\\.js$` },
    },
    {
      name: 'upper-layers-reach-the-agent-through-pool',
      severity: 'error',
      comment: "The agent's contract reaches service/, remote/, cli/ and bench/ through pool's index, not from agent/ itself.",
      from: { path: UPPER },
      to: { path: '^dist/agent/' },
    },
    {
      name: 'wire-is-below-its-users',
      comment: 'wire/ is the format service/ and remote/ share: it imports neither, nor anything above them, nor the image builder.',
      severity: 'error',
      from: { path: '^dist/wire/' },
      to: { path: '^dist/(image|mcp|service|remote|cli|bench)/' },
    },
    {
      name: 'mcp-is-below-its-transports',
      comment: 'mcp/ is the MCP server that warmbox serve (/mcp) and warmbox mcp (stdio) carry: it imports neither, nor the remote client.',
      severity: 'error',
      from: { path: '^dist/mcp/' },
      to: { path: '^dist/(image|service|remote|cli|bench)/' },
    },
    {
      name: 'service-and-remote-are-peers',
      severity: 'error',
      comment: 'service/ and remote/ share the wire, not each other: neither imports the other.',
      from: { path: '^dist/(service|remote)/' },
      to: { path: '^dist/(service|remote)/', pathNot: '^dist/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The agent's bundle holds all of its sources in one file; the sources themselves are cruised.
    exclude: { path: '^dist/(test|examples)/|^dist/agent/agent\\.cjs$|\\.d\\.ts$' },
  },
};
