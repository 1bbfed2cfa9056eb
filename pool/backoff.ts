/** How long to wait before the next attempt: `firstMs`, doubling each attempt, at most `maxMs`. */
export interface Backoff {
  readonly firstMs: number;
  readonly maxMs: number;
}

/**
 * A removal the engine refused because the container's root filesystem was still busy:
 * 100 ms, doubling, at most 1.6 s (REMOVAL_ATTEMPTS of them, some 3 s in all).
 */
export const REMOVAL_BACKOFF: Backoff = Object.freeze({ firstMs: 100, maxMs: 1600 });
export const REMOVAL_ATTEMPTS = 6;

/** Replacement containers: 100 ms, doubling, at most 10 s. */
export const REPLACEMENT_BACKOFF: Backoff = Object.freeze({ firstMs: 100, maxMs: 10_000 });

/** The delay before attempt `attempt + 1`, after `attempt + 1` failures (attempt counts from 0). */
export function backoffDelayMs(attempt: number, { firstMs, maxMs }: Backoff): number {
  // 2 ** attempt overflows to Infinity long before attempt reaches any real count; min() caps it.
  return Math.min(firstMs * 2 ** attempt, maxMs);
}
