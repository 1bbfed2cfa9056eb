import test from 'ava';
import { backoffDelayMs, REPLACEMENT_BACKOFF } from '../../pool/backoff.js';
import { followAbort } from '../../pool/follow-abort.js';

test('backoff doubles from firstMs and stops at maxMs, even after very many attempts', (t) => {
  t.deepEqual([0, 1, 2, 3, 6, 7, 8].map((n) => backoffDelayMs(n, REPLACEMENT_BACKOFF)), [100, 200, 400, 800, 6400, 10_000, 10_000]);
  t.is(backoffDelayMs(5000, REPLACEMENT_BACKOFF), 10_000);
});

test('followAbort: aborts with the followed reason, at once if already aborted, and no longer once unfollowed', (t) => {
  const source = new AbortController();
  const followed = followAbort(source.signal);
  const reason = new Error('stop');
  source.abort(reason);
  t.is(followed.controller.signal.reason, reason);

  t.is(followAbort(AbortSignal.abort('early')).controller.signal.reason, 'early');
  t.false(followAbort(undefined).controller.signal.aborted);

  const later = new AbortController();
  const unfollowed = followAbort(later.signal);
  unfollowed.unfollow();
  later.abort();
  t.false(unfollowed.controller.signal.aborted);
});
