/**
 * The soak's short version (`npm run soak` is the long one): the same mix and the same checks
 * but memory growth, which needs a thousand jobs or more to mean anything.
 */
import test from 'ava';
import { soak } from '../../bench/soak.js';

test('soak, 160 jobs of 8 kinds through a pool of 4 -> every status right, none lost or run twice, nothing left after close()', async (t) => {
  t.timeout(10 * 60_000);
  const report = await soak({ jobs: 160, poolSize: 4 });
  t.deepEqual(report.wrong, []);
  t.deepEqual(report.lostOrTwice, []);
  t.is(Object.values(report.byKind).reduce((a, b) => a + b, 0), 160);
  t.deepEqual(report.left, { containers: 0, socketRootEntries: 0, extraFds: 0 });
  t.true(report.passed);
});
