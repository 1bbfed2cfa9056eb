/**
 * Files in and out of a job, against real Docker: what the program finds in its directory,
 * and what comes back of what it leaves there. The traps a program can set for the copy
 * (symlinks, FIFOs, sparse files, deep trees, names that are not UTF-8) are attack files,
 * test/fixtures/attacks/files-*.py.
 */
import test from 'ava';
import { Sandbox } from '../helpers/sandbox.js';

const sandbox = new Sandbox({ poolSize: 2, queueTimeoutMs: 600_000 });
test.before(() => sandbox.initialize());
test.after.always(() => sandbox.close());

test('files in -> written under /work before the code runs, owned by the program, importable as beside main.py', async (t) => {
  const r = await sandbox.run({
    code: `
import os, util
from helpers import maths
def owner(path):
    return os.stat(path).st_uid
result = {
    "text": open("notes/a.txt", encoding="utf-8").read(),
    "bytes": list(open("data.bin", "rb").read()),
    "twice": util.twice(21),
    "square": maths.square(4),
    "owners": sorted({owner(p) for p in ("notes", "notes/a.txt", "data.bin", "helpers/maths.py")}),
}`,
    files: {
      'notes/a.txt': 'héllo',
      'data.bin': new Uint8Array([0, 1, 254, 255]),
      'util.py': 'def twice(x):\n    return 2 * x\n',
      'helpers/maths.py': 'def square(x):\n    return x * x\n',
    },
  });
  t.like(r, { status: 'ok', error: null }, r.stderr);
  t.deepEqual(r.result, { text: 'héllo', bytes: [0, 1, 254, 255], twice: 42, square: 16, owners: [10002] });
});

test('returnFiles -> the matching regular files, in path order, as Buffers of their exact bytes', async (t) => {
  const r = await sandbox.run({
    code: `
import os
os.makedirs("out/deep")
for name, data in (("out/b.png", b"\\x89PNG-b"), ("out/a.png", b"\\x89PNG-a"), ("out/deep/c.png", b"c"), ("out/skip.txt", b"no"), ("top.csv", b"x,y\\n")):
    with open(name, "wb") as f:
        f.write(data)`,
    returnFiles: ['out/**/*.png', '*.csv'],
  });
  t.like(r, { status: 'ok', filesTruncated: false });
  t.deepEqual(
    r.files.map(({ path, size, data }) => [path, size, data.toString('latin1')]),
    [
      ['out/a.png', 6, '\x89PNG-a'],
      ['out/b.png', 6, '\x89PNG-b'],
      ['out/deep/c.png', 1, 'c'],
      ['top.csv', 4, 'x,y\n'],
    ],
  );
  t.true(r.files.every((file) => Buffer.isBuffer(file.data)));
});

test("returnFiles ['**'] -> what the program made or changed; main.py and the job's unchanged files only when a pattern names them", async (t) => {
  const job = {
    code: `
open("changed.txt", "a").write(" and more")
open("same.txt", "w").write("same")  # rewritten with the bytes it had: unchanged
open("new.bin", "wb").write(bytes([1, 2]))`,
    files: { 'kept.txt': 'kept', 'changed.txt': 'start', 'same.txt': 'same', 'dir/kept.bin': Buffer.from([9]) },
  };
  const all = await sandbox.run({ ...job, returnFiles: ['**'] });
  t.like(all, { status: 'ok', filesTruncated: false });
  t.deepEqual(all.files.map(({ path, data }) => [path, data.toString('latin1')]), [['changed.txt', 'start and more'], ['new.bin', '\x01\x02']]);
  // Named exactly, an input comes back as it is, and so does the code's own file.
  const named = await sandbox.run({ ...job, returnFiles: ['**', 'kept.txt', 'main.py'] });
  t.deepEqual(named.files.map(({ path }) => path), ['changed.txt', 'kept.txt', 'main.py', 'new.bin']);
  t.is(named.files.find(({ path }) => path === 'main.py')!.data.toString(), job.code);
});

test('files come back whatever the program did: after an exception, a timeout, a kill', async (t) => {
  const code = (ending: string) => `open("out.txt", "w").write("written")\n${ending}`;
  // Only the loop meets its limit: the others have time to spare, which a loaded machine under
  // gVisor needs (a 500 ms limit there once ended the kill as a timeout).
  for (const [ending, status, timeoutMs] of [['raise ValueError("late")', 'error', 10_000], ['while True: pass', 'timeout', 500], ['import os; os.kill(os.getpid(), 9)', 'error', 10_000]] as const) {
    const r = await sandbox.run({ code: code(ending), returnFiles: ['out.txt'], timeoutMs });
    t.is(r.status, status);
    t.deepEqual(r.files.map((file) => file.data.toString()), ['written'], ending);
  }
});

test('maxReturnFiles, maxReturnBytes -> what fits comes back in path order, filesTruncated says the rest did not', async (t) => {
  const limited = new Sandbox({ poolSize: 1, maxReturnFiles: 3, maxReturnBytes: 1000 });
  t.teardown(() => limited.close());
  await limited.initialize();
  const counted = await limited.run({ code: 'for i in range(5):\n    open(f"f{i}.txt", "w").write(str(i))', returnFiles: ['*.txt'] });
  t.like(counted, { status: 'ok', filesTruncated: true });
  t.deepEqual(counted.files.map((file) => file.path), ['f0.txt', 'f1.txt', 'f2.txt']);
  // a.bin alone passes the byte limit: it is left out, and the smaller ones after it still come.
  const sized = await limited.run({ code: 'open("a.bin", "wb").write(b"a" * 1001)\nopen("b.bin", "wb").write(b"b" * 600)\nopen("c.bin", "wb").write(b"c" * 400)', returnFiles: ['*.bin'] });
  t.like(sized, { status: 'ok', filesTruncated: true });
  t.deepEqual(sized.files.map((file) => [file.path, file.size]), [['b.bin', 600], ['c.bin', 400]]);
});

test('returnFilesTimeoutMs -> a copy that runs out of time stops there, with filesTruncated', async (t) => {
  const hurried = new Sandbox({ poolSize: 1, returnFilesTimeoutMs: 1 });
  t.teardown(() => hurried.close());
  await hurried.initialize();
  const r = await hurried.run({ code: 'import os\nos.makedirs("many")\nfor i in range(2000):\n    open(f"many/{i:04}.txt", "w").write("x" * 1000)', returnFiles: ['many/*'] });
  t.like(r, { status: 'ok', filesTruncated: true });
  t.true(r.files.length < 100, `${r.files.length} files`);
});

test('no returnFiles -> nothing is looked for: files empty, not truncated', async (t) => {
  const r = await sandbox.run('open("x.txt", "w").write("x")');
  t.like(r, { status: 'ok', files: [], filesTruncated: false, figures: [] });
});
