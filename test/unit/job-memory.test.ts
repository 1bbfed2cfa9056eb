import test from 'ava';
import { JobMemory } from '../../service/job-memory.js';

test('a repeat while the first run goes on shares it; after, it gets its result; both say replayed', async (t) => {
  const memory = new JobMemory<number>(10, 1000, () => 0);
  let runs = 0;
  let finish!: (n: number) => void;
  const start = () => {
    runs++;
    return new Promise<number>((resolve) => (finish = resolve));
  };
  const first = memory.once('a', start);
  const during = memory.once('a', start);
  finish(7);
  t.deepEqual([await first.value, first.replayed, await during.value, during.replayed], [7, false, 7, true]);
  const after = memory.once('a', start);
  t.deepEqual([await after.value, after.replayed, runs], [7, true, 1]);
});

test('past ttlMs, or pushed out by max newer ids, an id runs again', async (t) => {
  let clock = 0;
  const memory = new JobMemory<string>(2, 100, () => clock);
  let runs = 0;
  const start = async () => `run ${++runs}`;
  await memory.once('a', start).value;
  clock = 101;
  t.deepEqual([await memory.once('a', start).value, runs], ['run 2', 2]);
  await memory.once('b', start).value;
  await memory.once('c', start).value;
  t.is(memory.size, 2);
  t.false(memory.once('a', start).replayed);
});

test('a run that failed is forgotten: a retry runs it', async (t) => {
  const memory = new JobMemory<string>(10, 1000);
  const failed = memory.once('a', async () => {
    throw new Error('queue full');
  });
  await t.throwsAsync(failed.value);
  const retry = memory.once('a', async () => 'ran');
  t.deepEqual([await retry.value, retry.replayed], ['ran', false]);
});
