/**
 * Limits and units that the layers above the pool need without loading it: a light module,
 * one of pool's public faces (warmbox/remote takes the longest timeout from here).
 */

/** Bytes in a MiB: the unit of every `...Mb` option. */
export const MIB = 1024 * 1024;

/** The longest `timeoutMs` accepted: a sandboxed job of more than an hour is a mistake. */
export const MAX_TIMEOUT_MS = 60 * 60 * 1000;
