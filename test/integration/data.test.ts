/**
 * Data work on the image with numpy, pandas and matplotlib (`npm run build:image:data`, which
 * .ci/run does): a CSV in, pandas, a chart out, as README's example runs it.
 */
import test from 'ava';
import { requireDataImage } from '../helpers/set-up.js';
import { docker, Sandbox } from '../helpers/sandbox.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const image = await requireDataImage();
const sandbox = new Sandbox({ poolSize: 2, image, memoryLimitMb: 512, preload: ['numpy', 'pandas', 'matplotlib.pyplot'], queueTimeoutMs: 600_000 });
test.before(async () => {
  await docker.getImage(image).inspect().catch(() => {
    throw new Error(`the data image ${image} is not built: npm run build:image:data`);
  });
  await sandbox.initialize();
});
test.after.always(() => sandbox.close());

const csv = `region,amount\n${Array.from({ length: 1000 }, (_, i) => `${['north', 'south', 'east', 'west'][i % 4]},${i}`).join('\n')}\n`;

function assertPng(t: import('ava').ExecutionContext, png: Buffer | undefined, what: string) {
  t.truthy(png, what);
  t.true(png!.subarray(0, 8).equals(PNG_SIGNATURE), `${what} is a PNG`);
  t.true(png!.length > 2000, `${what} is ${png!.length} bytes: a chart, not an empty image`);
}

test('CSV in, pandas, savefig -> the result, and the chart as a real PNG in files', async (t) => {
  const r = await sandbox.run({
    code: `
import pandas as pd, matplotlib.pyplot as plt
df = pd.read_csv('sales.csv')
df.groupby('region')['amount'].sum().plot.bar()
plt.savefig('out/chart.png')
result = {'rows': len(df), 'total': int(df['amount'].sum())}`,
    files: { 'sales.csv': csv, 'helpers/util.py': 'X = 1\n', 'out/.keep': '' },
    returnFiles: ['out/*.png'],
  });
  t.like(r, { status: 'ok', error: null, stderr: '' }, r.stderr);
  t.deepEqual(r.result, { rows: 1000, total: 499500 });
  t.deepEqual(r.files.map((file) => file.path), ['out/chart.png']);
  assertPng(t, r.files[0]?.data, 'out/chart.png');
  t.is(r.files[0]!.size, r.files[0]!.data.length);
});

test('plt.show(), as language models write it -> the figure comes back in figures; one left open comes after it', async (t) => {
  const r = await sandbox.run(`
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [3, 1, 2])
plt.title("shown")
plt.show()
plt.figure()
plt.bar(["a", "b"], [2, 5])
`);
  t.like(r, { status: 'ok', stderr: '' }, r.stderr);
  t.is(r.figures.length, 2);
  assertPng(t, r.figures[0], 'the shown figure');
  assertPng(t, r.figures[1], 'the figure left open');
  t.false(r.figures[0]!.equals(r.figures[1]!));
});

test('matplotlib draws without a display, and without a writable home of its own choosing', async (t) => {
  const r = await sandbox.run(`
import matplotlib, os
result = {"backend": matplotlib.get_backend(), "config": matplotlib.get_configdir(), "display": os.environ.get("DISPLAY")}`);
  t.like(r, { status: 'ok', stderr: '' });
  t.deepEqual(r.result, { backend: 'module://warmbox_figures', config: '/work/.config/matplotlib', display: null });
});

test('preload -> the modules are imported before the code runs', async (t) => {
  const r = await sandbox.run('import sys\nresult = [name in sys.modules for name in ("numpy", "pandas", "matplotlib.pyplot", "scipy")]');
  t.deepEqual(r.result, [true, true, true, false]);
});

test('no preload -> the same job still works, importing as it goes', async (t) => {
  const plain = new Sandbox({ poolSize: 1, image, memoryLimitMb: 512 });
  t.teardown(() => plain.close());
  await plain.initialize();
  const r = await plain.run({ code: 'import sys\nbefore = "pandas" in sys.modules\nimport pandas as pd\nresult = [before, len(pd.read_csv("s.csv"))]', files: { 's.csv': csv } });
  t.like(r, { status: 'ok' }, r.stderr);
  t.deepEqual(r.result, [false, 1000]);
});

test('a session on the data image: a DataFrame loaded in one cell is there in the next; a DataFrame and a figure come back as values a page renders', async (t) => {
  await using s = await sandbox.session({ files: { 'sales.csv': csv } });
  t.like(await s.run('import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv("sales.csv")'), { status: 'ok', value: null });
  const frame = await s.run('df.groupby("region")["amount"].sum().to_frame()');
  t.like(frame, { status: 'ok', sessionEnded: false });
  t.regex(frame.value?.html ?? '', /<table[\s\S]*north[\s\S]*<\/table>/);
  t.regex(frame.value?.repr ?? '', /north\s+124500/);
  t.false('json' in frame.value!, 'a DataFrame has no JSON value');
  const figure = await s.run('fig, ax = plt.subplots()\nax.plot(df["amount"])\nfig');
  assertPng(t, figure.value?.png === undefined ? undefined : Buffer.from(figure.value.png, 'base64'), 'the figure value');
  t.regex(figure.value?.repr ?? '', /Figure/);
  const shown = await s.run('df["amount"].plot()\nplt.show()');
  t.is(shown.figures.length, 1, 'a figure shown in a cell comes back with that cell');
  assertPng(t, shown.figures[0], 'the shown figure');
  t.like(await s.run('len(df)'), { value: { json: 1000 } });
});
