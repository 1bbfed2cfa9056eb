import { readdirSync, readFileSync } from 'node:fs';

// Enough for any fork bomb the pids limit allows: each round kills every process alive.
const MAX_ROUNDS = 100;

/**
 * SIGKILLs every process owned by `uid`, round after round, until a round finds none it has
 * not killed already. The uid is the program's alone, so this reaches children that started
 * their own session or process group, ignore SIGTERM, or were forked while an earlier round
 * ran. A process with SIGKILL pending can fork no more, so one killed once needs no second
 * look while it dies: waiting for that would cost the job a millisecond or more. Zombies are
 * skipped: they are already dead, and PID 1 reaps them once their parent is gone. `spare`, a
 * pid, is left alone.
 */
export function killProcessesOf(uid: number, spare?: number): void {
  const killed = new Set<number>(spare === undefined ? [] : [spare]);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let found = 0;
    for (const pid of listPids()) {
      // Neither PID 1 (docker-init) nor the agent is ever the program's: no need to read them.
      if (killed.has(pid) || pid === 1 || pid === process.pid) continue;
      const owner = ownerAndStateOf(pid);
      if (owner?.uid !== uid || owner.state === 'Z') continue;
      found++;
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It ended between the look and the kill.
      }
    }
    if (found === 0) return;
  }
}

/** SIGKILLs a process group; used where the program has no uid of its own (agent tests). */
export function killProcessGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // The whole group has already ended.
  }
}

function listPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

function ownerAndStateOf(pid: number): { uid: number; state: string } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    return uid === undefined || state === undefined ? undefined : { uid: Number(uid), state };
  } catch {
    return undefined;
  }
}
