// The module image/bundle-agent.mjs generates with compile-schemas.ts and bundles in.
declare module 'warmbox:compiled-schemas' {
  const compiled: Record<string, unknown>;
  export default compiled;
}
