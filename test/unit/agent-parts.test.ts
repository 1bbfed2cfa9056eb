import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CappedOutput } from '../../agent/capped-output.js';
import { readCpuUsageUs, readOomKillCount, readProcessMemory, readUnreclaimableBytes } from '../../agent/cgroup.js';
import fc from 'fast-check';
import { decodeRunAnswer, encodeRunAnswer, RunAnswerReader, type AgentOutputEvent, type AgentReport } from '../../contract/protocol.js';
import { parseReport } from '../../agent/python-runner.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warmbox-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A CappedOutput and the text it passes on. */
function capped(limitBytes: number): { output: CappedOutput; text: () => string } {
  const pieces: string[] = [];
  return { output: new CappedOutput(limitBytes, (text) => pieces.push(text)), text: () => pieces.join('') };
}

test('CappedOutput passes the first bytes on, flags the rest, and never splits a character', (t) => {
  const { output, text } = capped(5);
  output.push(Buffer.from('ab'));
  output.push(Buffer.from('c€d'));
  output.end();
  t.is(text(), 'abc');
  t.true(output.truncated);
});

test('CappedOutput passes a character split across chunks on whole, and one the output ends inside as U+FFFD', (t) => {
  const { output, text } = capped(100);
  const euro = Buffer.from('€');
  output.push(euro.subarray(0, 2));
  t.is(text(), '', 'half a character waits for the rest');
  output.push(euro.subarray(2));
  output.push(euro.subarray(0, 1));
  output.end();
  t.is(text(), '€\ufffd');
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

test('readUnreclaimableBytes: usage less the page cache of files, tmpfs kept, in v2 and v1 words; readProcessMemory: anonymous pages and page tables', (t) => {
  const dir = tempDir(t);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  // v2: memory.current, and `file` (shmem included) in memory.stat.
  const v2 = { usage: file('memory.current', '20000000\n'), stat: file('v2.stat', 'anon 12000000\nfile 5000000\nkernel 1000000\nshmem 3000000\n') };
  t.is(readUnreclaimableBytes(v2), 20000000 - 5000000 + 3000000);
  // v1: usage_in_bytes, and `cache` (shmem included).
  const v1 = { usage: file('memory.usage_in_bytes', '18000000\n'), stat: file('v1.stat', 'cache 4000000\nrss 12000000\nshmem 1000000\nmapped_file 0\ntotal_cache 4000000\n') };
  t.is(readUnreclaimableBytes(v1), 18000000 - 4000000 + 1000000);
  t.is(readUnreclaimableBytes({ usage: join(dir, 'missing'), stat: join(dir, 'missing') }), null);
  const status = file('status', 'Name:\tpython3\nVmRSS:\t   12000 kB\nRssAnon:\t    5556 kB\nRssFile:\t    6444 kB\nVmPTE:\t      60 kB\n');
  t.is(readProcessMemory(status), (5556 + 60) * 1024);
  t.is(readProcessMemory(file('gvisor-status', 'Name:\tpython3\nVmRSS:\t   12000 kB\n')), null, "gVisor's status has no RssAnon");
});

/** A report as the runner's pieces: one chunk, or cut at the given places. */
const chunked = (text: string, cuts: readonly number[] = []): Buffer[] => {
  const bytes = Buffer.from(text);
  const at = [0, ...cuts.map((n) => n % (bytes.length + 1)).sort((x, y) => x - y), bytes.length];
  return at.slice(1).map((end, i) => bytes.subarray(at[i], end));
};
const parsed = (text: string, overflowed = false, cuts: readonly number[] = []) => {
  const report = parseReport(chunked(text, cuts), overflowed);
  return report && { ...report, resultJson: Buffer.concat(report.resultJson).toString() };
};

test('parseReport: nothing, a result, an error, figures, a report cut short, and what a program could forge', (t) => {
  t.is(parsed(''), null);
  t.deepEqual(parsed('null\n{"a": 1}\n[]\nnull\n{"exit": 0}\n'), { error: null, resultJson: '{"a": 1}', figures: [], value: 'null', exitCode: 0, signal: null });
  const error = { type: 'ValueError', message: 'bad', traceback: 'Traceback...' };
  t.deepEqual(parsed(`${JSON.stringify(error)}\nnull\n["iVBO"]\nnull\n{"exit": 1}\n`), { error, resultJson: 'null', figures: ['iVBO'], value: 'null', exitCode: 1, signal: null });
  t.deepEqual(parsed('null\nnull\n[]\nnull\n{"signal": "SIGINT"}\n'), { error: null, resultJson: 'null', figures: [], value: 'null', exitCode: null, signal: 'SIGINT' });
  // A session's cell: the value as the runner wrote it, and the session left open.
  t.deepEqual(parsed('null\nnull\n[]\n{"repr": "1", "json": 1}\n{"open": true}\n'), { error: null, resultJson: 'null', figures: [], value: '{"repr": "1", "json": 1}', open: true });
  // Cut short, as when the OOM killer takes the runner while it reports: no report at all.
  for (const cut of ['null\n1\n[]\nnull\n', 'null\n1\n[]\nnull\n{"exit": 0}', 'null\n{"big": "resu']) t.is(parsed(cut), null, cut);
  const forgeries = [
    'null\n1\n[]\nnull\n{"exit": 0}\nnull\n', '{"type": 1}\nnull\n[]\nnull\n{"exit": 0}\n', 'nope\nnull\n[]\nnull\n{"exit": 0}\n', 'null\n1\n[]\nnull\nnull\n',
    'null\n1\n[]\nnull\n{"exit": "0"}\n', 'null\n1\n[]\nnull\n{"signal": "SIGKILL"}\n', 'null\n1\n[1]\nnull\n{"exit": 0}\n', 'null\n1\n{}\nnull\n{"exit": 0}\n',
  ];
  for (const forged of forgeries) {
    t.is(parsed(forged)?.error?.type, 'ProtocolError', forged);
  }
  t.is(parsed('null\n1\n[]\nnull\n{"exit": 0}\n', true)?.error?.type, 'ResultError');
});

test('parseReport reads a report in chunks cut anywhere as it reads it whole, the result left in pieces', (t) => {
  const reports = fc.oneof(
    fc.tuple(fc.jsonValue(), fc.array(fc.base64String({ maxLength: 12 }), { maxLength: 2 }), fc.integer({ min: 0, max: 255 })).map(
      ([result, figures, exit]) => `null\n${JSON.stringify(result)}\n${JSON.stringify(figures)}\nnull\nnull\n{"exit": ${exit}}\n`,
    ),
    fc.constantFrom('null\n1\n[]\n', 'null\n1\n[]\nnull\n{"exit": 0}\nnull\n', 'nope\nnull\n[]\nnull\n{"exit": 0}\n'),
  );
  fc.assert(
    fc.property(reports, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
      t.deepEqual(parsed(text, false, cuts), parsed(text));
    }),
  );
});

const report: AgentReport = {
  status: 'ok', exitCode: 0, signal: null, timedOut: false, cpuTimeExceeded: false,
  memoryExceeded: false, outputTruncated: false, error: null, durationMs: 1, files: [], filesTruncated: false, figures: [],
};

test('an answer read in chunks cut anywhere -> the same events in order, the report with their output, the result\'s bytes as sent', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ type: fc.constantFrom('stdout' as const, 'stderr' as const), data: fc.string({ unit: 'binary' }) }), { maxLength: 5 }),
      fc.jsonValue(),
      fc.array(fc.nat(), { maxLength: 8 }),
      (events, result, cuts) => {
        const resultJson = Buffer.from(JSON.stringify(result));
        const bytes = Buffer.concat([...events.map((event) => Buffer.from(`${JSON.stringify(event)}\n`)), ...encodeRunAnswer({ report, resultJson: [resultJson] })]);
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
        const output = (stream: string) => events.filter((event) => event.type === stream).map((event) => event.data).join('');
        t.deepEqual(answer.response, { ...report, stdout: output('stdout'), stderr: output('stderr') });
        t.deepEqual(reader.output(), { stdout: output('stdout'), stderr: output('stderr') });
        t.true(Buffer.concat(answer.resultJson).equals(resultJson));
      },
    ),
  );
});

test('an answer that ends before its result, or inside it -> an error saying so', (t) => {
  const whole = Buffer.concat(encodeRunAnswer({ report, resultJson: [Buffer.from('[1,2]')] }));
  t.throws(() => decodeRunAnswer(Buffer.from('{"type":"stdout","data":"x"}\n')), { message: /without a result/ });
  t.throws(() => decodeRunAnswer(whole.subarray(0, -2)), { message: /inside its result/ });
  t.throws(() => decodeRunAnswer(Buffer.from('not json\n')), { instanceOf: SyntaxError });
});
