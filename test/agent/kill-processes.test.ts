import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { killProcessesOf } from '../../agent/kill-processes.js';

// A uid no process on this machine has (checked below): program containers run as
// PROGRAM_UID on the host under runc, and a test of other files may have some running.
const UID = 64_123;

function processesOf(uid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

function sleeper(): ChildProcess {
  return spawn('sleep', ['1000'], { uid: UID, gid: UID, stdio: 'ignore' });
}

// Starting processes as another uid needs root, as CI has.
const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot('killProcessesOf ends every process of the uid, a stopped one too, and leaves the one it is told to spare', async (t) => {
  t.deepEqual(processesOf(UID), []);
  const [spared, other, stopped] = [sleeper(), sleeper(), sleeper()];
  await Promise.all([spared, other, stopped].map((child) => once(child, 'spawn')));
  t.teardown(() => void spared.kill('SIGKILL'));
  // As the runner does after its report.
  stopped.kill('SIGSTOP');

  const ended = Promise.all([other, stopped].map((child) => once(child, 'exit')));
  killProcessesOf(UID, spared.pid);
  t.deepEqual(await ended, [[null, 'SIGKILL'], [null, 'SIGKILL']]);
  t.deepEqual(processesOf(UID), [spared.pid]);

  spared.kill('SIGSTOP');
  const sparedEnded = once(spared, 'exit');
  killProcessesOf(UID);
  t.deepEqual(await sparedEnded, [null, 'SIGKILL']);
  t.deepEqual(processesOf(UID), []);
});
