import test from 'ava';
import { PoolSizer } from '../../pool/pool-sizer.js';

/** A sizer on a clock the test moves. */
function sizer(min: number, max: number, shrinkAfterMs = 30_000) {
  const clock = { now: 0 };
  return { clock, sizer: new PoolSizer({ min, max, shrinkAfterMs, now: () => clock.now }) };
}

test('at rest -> the minimum', (t) => {
  const { sizer: s } = sizer(2, 12);
  t.deepEqual(s.target({ busy: 0, queued: 0 }), { size: 2, reason: 'minimum' });
});

test('jobs waiting -> grows at once to hold them and those running, within the maximum', (t) => {
  const { sizer: s } = sizer(2, 12);
  t.deepEqual(s.target({ busy: 2, queued: 3 }), { size: 5, reason: 'queue' });
  t.deepEqual(s.target({ busy: 4, queued: 30 }), { size: 12, reason: 'queue' });
});

test('arrivals times the refill time, with room for their spread -> that many warm on top of those running', (t) => {
  const { clock, sizer: s } = sizer(2, 12);
  s.refilled(700);
  // 3 jobs a second over the last 10 s: 2.1 per refill of 0.7 s, and 3 × √2.1 more, 7 in all.
  for (let i = 0; i < 30; i++) {
    clock.now = i * (1000 / 3);
    s.arrived();
  }
  clock.now = 10_000;
  t.is(Math.round(s.arrivalRate() * 10) / 10, 3);
  t.deepEqual(s.target({ busy: 1, queued: 0 }), { size: 8, reason: 'arrivals' });
});

test('the refill time is a running average of the measured starts', (t) => {
  const { sizer: s } = sizer(1, 4);
  t.is(s.refillMs, 1000);
  s.refilled(500);
  t.is(s.refillMs, 500);
  s.refilled(1500);
  t.is(s.refillMs, 700);
});

test('wanting fewer -> keeps the size for the quiet period, then lets go to what it wants', (t) => {
  const { clock, sizer: s } = sizer(2, 12, 30_000);
  t.is(s.target({ busy: 0, queued: 8 }).size, 8);
  clock.now = 29_999;
  t.deepEqual(s.target({ busy: 0, queued: 0 }), { size: 8, reason: 'queue' });
  clock.now = 30_000;
  t.deepEqual(s.target({ busy: 3, queued: 0 }), { size: 3, reason: 'quiet' });
  // The next quiet period counts from the last change.
  clock.now = 59_999;
  t.is(s.target({ busy: 0, queued: 0 }).size, 3);
  clock.now = 60_000;
  t.deepEqual(s.target({ busy: 0, queued: 0 }), { size: 2, reason: 'quiet' });
});

test('a need at the size it has restarts the quiet period', (t) => {
  const { clock, sizer: s } = sizer(1, 10, 1000);
  s.target({ busy: 0, queued: 6 });
  clock.now = 900;
  t.is(s.target({ busy: 6, queued: 0 }).size, 6);
  clock.now = 1800;
  t.is(s.target({ busy: 0, queued: 0 }).size, 6);
  clock.now = 1900;
  t.is(s.target({ busy: 0, queued: 0 }).size, 1);
});

test('a fixed pool (min = max) -> always that size', (t) => {
  const { clock, sizer: s } = sizer(4, 4);
  for (let i = 0; i < 100; i++) s.arrived();
  t.deepEqual(s.target({ busy: 4, queued: 50 }), { size: 4, reason: 'minimum' });
  clock.now = 1e9;
  t.deepEqual(s.target({ busy: 0, queued: 0 }), { size: 4, reason: 'minimum' });
});
