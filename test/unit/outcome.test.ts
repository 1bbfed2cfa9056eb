import test from 'ava';
import { decideOutcome, type JobFacts } from '../../agent/outcome.js';

const report = (exitCode: number | null, error: JobFacts['report'] extends infer R ? (R extends { error: infer E } ? E : never) : never = null, signal: string | null = null) => ({
  error,
  resultJson: [Buffer.from('1')],
  exitCode,
  signal,
});
const facts = (f: Partial<JobFacts>): JobFacts => ({ report: null, exit: undefined, stoppedFor: undefined, oomKilled: false, ...f });
const memoryError = { type: 'MemoryError', message: '', traceback: '' };

const cases: Array<[string, Partial<JobFacts>, Record<string, unknown>]> = [
  ['reported exit 0 as the timer fired -> finished, not timed out', { report: report(0), stoppedFor: 'timeout' }, { status: 'ok', exitCode: 0, signal: null, timedOut: false }],
  ['killed for the timeout before reporting -> timeout, SIGKILL, no exit code', { exit: [null, 'SIGKILL'], stoppedFor: 'timeout' }, { status: 'timeout', exitCode: null, signal: 'SIGKILL', timedOut: true }],
  ['killed for the timeout, report never came, exit not seen -> timeout', { stoppedFor: 'timeout' }, { status: 'timeout', exitCode: null, signal: 'SIGKILL', timedOut: true, resultJson: [Buffer.from('null')] }],
  ['exited 3 by itself as the timer fired -> its exit code, not timed out', { exit: [3, null], stoppedFor: 'timeout' }, { status: 'error', exitCode: 3, timedOut: false }],
  ['killed for CPU time -> timeout with cpuTimeExceeded', { exit: [null, 'SIGKILL'], stoppedFor: 'cpu' }, { status: 'timeout', cpuTimeExceeded: true, timedOut: false }],
  ['OOM kill and the timeout -> memory first, both flags', { exit: [null, 'SIGKILL'], stoppedFor: 'timeout', oomKilled: true }, { status: 'memory', memoryExceeded: true, timedOut: true }],
  ['MemoryError reported -> memory', { report: report(1, memoryError) }, { status: 'memory', memoryExceeded: true, exitCode: 1 }],
  ['uncaught KeyboardInterrupt -> SIGINT, no exit code', { report: report(null, { type: 'KeyboardInterrupt', message: '', traceback: '' }, 'SIGINT') }, { status: 'error', exitCode: null, signal: 'SIGINT' }],
  ['killed itself with SIGKILL, no limit -> error', { exit: [null, 'SIGKILL'] }, { status: 'error', signal: 'SIGKILL', timedOut: false, memoryExceeded: false }],
  ['killed for output past the cap -> output, SIGKILL, no exit code', { exit: [null, 'SIGKILL'], stoppedFor: 'output' }, { status: 'output', exitCode: null, signal: 'SIGKILL', timedOut: false }],
  ['reported exit 0 as the output cap was passed -> finished: ok', { report: report(0), stoppedFor: 'output' }, { status: 'ok', exitCode: 0, signal: null }],
  ['OOM kill as the output cap was passed -> memory', { exit: [null, 'SIGKILL'], stoppedFor: 'output', oomKilled: true }, { status: 'memory', memoryExceeded: true }],
  ['exit 0 without a report -> ProtocolError', { exit: [0, null] }, { status: 'error', exitCode: 0, error: { type: 'ProtocolError' } }],
];

for (const [title, given, expected] of cases) {
  test(title, (t) => {
    t.like(decideOutcome(facts(given)), expected);
  });
}

test('a result never has both an exit code and timedOut, nor a signal and an exit code', (t) => {
  for (const exit of [undefined, [0, null], [1, null], [null, 'SIGKILL'], [null, 'SIGSEGV']] as const) {
    for (const stoppedFor of [undefined, 'timeout', 'cpu'] as const) {
      for (const r of [null, report(0), report(2)]) {
        const o = decideOutcome(facts({ report: r, exit, stoppedFor }));
        t.false(o.exitCode !== null && (o.timedOut || o.cpuTimeExceeded), JSON.stringify({ exit, stoppedFor, r, o }));
        t.false(o.exitCode !== null && o.signal !== null);
      }
    }
  }
});
