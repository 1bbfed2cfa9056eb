import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CappedOutput } from '../../agent/capped-output.js';
import { readCpuUsageUs, readOomKillCount } from '../../agent/cgroup.js';
import fc from 'fast-check';
import { decodeRunAnswer, encodeRunAnswer, RunAnswerReader, type AgentOutputEvent, type AgentRunResponse } from '../../agent/protocol.js';
import { parseReport } from '../../agent/python-runner.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warmbox-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('CappedOutput keeps the first bytes, flags the rest, and never splits a character', (t) => {
  const output = new CappedOutput(5);
  output.push(Buffer.from('ab'));
  output.push(Buffer.from('c€d'));
  t.is(output.text(), 'abc');
  t.true(output.truncated);
});

test('CappedOutput joins a character split across chunks', (t) => {
  const output = new CappedOutput(100);
  const euro = Buffer.from('€');
  output.push(euro.subarray(0, 2));
  output.push(euro.subarray(2));
  t.is(output.text(), '€');
  t.false(output.truncated);
});

test('readOomKillCount reads cgroup v2 memory.events and v1 memory.oom_control', (t) => {
  const dir = tempDir(t);
  const v2 = join(dir, 'memory.events');
  const v1 = join(dir, 'memory.oom_control');
  writeFileSync(v2, 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n');
  writeFileSync(v1, 'oom_kill_disable 0\nunder_oom 0\noom_kill 7\n');
  t.is(readOomKillCount([v2, v1]), 2);
  t.is(readOomKillCount([join(dir, 'missing'), v1]), 7);
  t.is(readOomKillCount([join(dir, 'missing')]), null);
});

test('readCpuUsageUs reads cgroup v2 cpu.stat and v1 cpuacct.usage', (t) => {
  const dir = tempDir(t);
  const v2 = join(dir, 'cpu.stat');
  const v1 = join(dir, 'cpuacct.usage');
  writeFileSync(v2, 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n');
  writeFileSync(v1, '987654321\n');
  t.is(readCpuUsageUs(v2, [v1]), 123456);
  t.is(readCpuUsageUs(join(dir, 'missing'), [v1]), 987654.321);
  t.is(readCpuUsageUs(join(dir, 'missing'), []), null);
});

test('parseReport: nothing, a result, an error, figures, a report cut short, and what a program could forge', (t) => {
  t.is(parseReport(Buffer.from(''), false), null);
  t.deepEqual(parseReport(Buffer.from('null\n{"a": 1}\n[]\n{"exit": 0}\n'), false), { error: null, resultJson: Buffer.from('{"a": 1}'), figures: [], exitCode: 0, signal: null });
  const error = { type: 'ValueError', message: 'bad', traceback: 'Traceback...' };
  t.deepEqual(parseReport(Buffer.from(`${JSON.stringify(error)}\nnull\n["iVBO"]\n{"exit": 1}\n`), false), { error, resultJson: Buffer.from('null'), figures: ['iVBO'], exitCode: 1, signal: null });
  t.deepEqual(parseReport(Buffer.from('null\nnull\n[]\n{"signal": "SIGINT"}\n'), false), { error: null, resultJson: Buffer.from('null'), figures: [], exitCode: null, signal: 'SIGINT' });
  // Cut short, as when the OOM killer takes the runner while it reports: no report at all.
  for (const cut of ['null\n1\n[]\n', 'null\n1\n[]\n{"exit": 0}', 'null\n{"big": "resu']) t.is(parseReport(Buffer.from(cut), false), null, cut);
  const forgeries = [
    'null\n1\n[]\n{"exit": 0}\nnull\n', '{"type": 1}\nnull\n[]\n{"exit": 0}\n', 'nope\nnull\n[]\n{"exit": 0}\n', 'null\n1\n[]\nnull\n',
    'null\n1\n[]\n{"exit": "0"}\n', 'null\n1\n[]\n{"signal": "SIGKILL"}\n', 'null\n1\n[1]\n{"exit": 0}\n', 'null\n1\n{}\n{"exit": 0}\n',
  ];
  for (const forged of forgeries) {
    t.is(parseReport(Buffer.from(forged), false)?.error?.type, 'ProtocolError', forged);
  }
  t.is(parseReport(Buffer.from('null\n1\n[]\n{"exit": 0}\n'), true)?.error?.type, 'ResultError');
});

const report: AgentRunResponse = {
  status: 'ok', stdout: 'a\nb', stderr: '', exitCode: 0, signal: null, timedOut: false, cpuTimeExceeded: false,
  memoryExceeded: false, outputTruncated: false, error: null, durationMs: 1, files: [], filesTruncated: false, figures: [],
};

test('an answer read in chunks cut anywhere -> the same events in order, the same report, the result\'s bytes as sent', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ type: fc.constantFrom('stdout' as const, 'stderr' as const), data: fc.string({ unit: 'binary' }) }), { maxLength: 5 }),
      fc.jsonValue(),
      fc.array(fc.nat(), { maxLength: 8 }),
      (events, result, cuts) => {
        const resultJson = Buffer.from(JSON.stringify(result));
        const bytes = Buffer.concat([...events.map((event) => Buffer.from(`${JSON.stringify(event)}\n`)), encodeRunAnswer({ response: report, resultJson })]);
        const seen: AgentOutputEvent[] = [];
        const reader = new RunAnswerReader((event) => seen.push(event));
        let start = 0;
        for (const cut of [...cuts.map((n) => n % (bytes.length + 1))].sort((a, b) => a - b)) {
          reader.push(bytes.subarray(start, cut));
          start = cut;
        }
        reader.push(bytes.subarray(start));
        const answer = reader.end();
        t.deepEqual(seen, events);
        t.deepEqual(answer.response, report);
        t.true(answer.resultJson.equals(resultJson));
      },
    ),
  );
});

test('an answer that ends before its result, or inside it -> an error saying so', (t) => {
  const whole = encodeRunAnswer({ response: report, resultJson: Buffer.from('[1,2]') });
  t.throws(() => decodeRunAnswer(Buffer.from('{"type":"stdout","data":"x"}\n')), { message: /without a result/ });
  t.throws(() => decodeRunAnswer(whole.subarray(0, -2)), { message: /inside its result/ });
  t.throws(() => decodeRunAnswer(Buffer.from('not json\n')), { instanceOf: SyntaxError });
});
