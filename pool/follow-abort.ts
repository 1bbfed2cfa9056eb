/**
 * A controller of its own that aborts, with the same reason, when `signal` does (at once if
 * it already has); `unfollow()` stops listening. For work that ends before the signal it
 * follows: AbortSignal.any() would do the same, but Node keeps such a composite alive for as
 * long as its longest-lived source lives (nodejs/node#55351), one per job or per retry.
 */
export function followAbort(signal: AbortSignal | undefined): { controller: AbortController; unfollow(): void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { controller, unfollow: () => signal?.removeEventListener('abort', onAbort) };
}
