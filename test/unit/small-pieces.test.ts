import test from 'ava';
import type Docker from 'dockerode';
import { backoffDelayMs, REMOVAL_ATTEMPTS, REPLACEMENT_BACKOFF } from '../../pool/backoff.js';
import { DockerError } from '../../contract/errors.js';
import { removeContainer } from '../../pool/remove-container.js';
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

/** An engine whose removal of a container fails with `errors`, in turn, then succeeds. */
function engineFailingRemoval(errors: Error[]) {
  let calls = 0;
  const docker = { getContainer: () => ({ remove: async () => { calls++; const error = errors.shift(); if (error) throw error; } }) } as unknown as Docker;
  return { docker, calls: () => calls };
}
const engineError = (statusCode: number, message: string) => Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message}`), { statusCode });
const BUSY = 'container c1: driver "overlay2" failed to remove root filesystem: unlinkat /var/lib/docker/overlay2/d1/merged: device or resource busy';

test('removeContainer: a root filesystem still busy -> asked again until the engine removes it', async (t) => {
  const engine = engineFailingRemoval([engineError(500, BUSY), engineError(500, BUSY)]);
  await removeContainer(engine.docker, 'c1', undefined);
  t.is(engine.calls(), 3);
});

test('removeContainer: busy for good -> DockerError after REMOVAL_ATTEMPTS; any other failure at once', async (t) => {
  const busy = engineFailingRemoval(Array.from({ length: REMOVAL_ATTEMPTS + 1 }, () => engineError(500, BUSY)));
  await t.throwsAsync(removeContainer(busy.docker, 'c1', undefined), { instanceOf: DockerError, message: /device or resource busy/ });
  t.is(busy.calls(), REMOVAL_ATTEMPTS);
  const broken = engineFailingRemoval([engineError(500, 'container c1: something else')]);
  await t.throwsAsync(removeContainer(broken.docker, 'c1', undefined), { instanceOf: DockerError });
  t.is(broken.calls(), 1);
});
