/**
 * The example web IDE, a notebook (examples/web-ide, as built into dist/web-ide), in a real
 * browser: Debian's Chromium, driven by playwright-core, against `serve --demo` on loopback, on
 * the data image (for tables and figures). A user types cells into CodeMirror editors, runs
 * them with Shift+Enter in one session, stops a loop, restarts, and reads each cell's outcome:
 * output, value, a table, a figure, a traceback, a file to download.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { serve, type RunningService } from '../../service/serve.js';
import { requireDataImage, requireProgram } from '../helpers/set-up.js';

const CHROMIUM = await requireProgram('/usr/bin/chromium');
const DATA_IMAGE = await requireDataImage();
const OUTPUT = join(PACKAGE_ROOT, 'test', 'web', 'output');

let service: RunningService;
let browser: Browser;

test.before(async () => {
  service = await serve({ host: '127.0.0.1', port: 0, sandbox: { poolSize: 2, image: DATA_IMAGE, memoryLimitMb: 512 }, demoDir: join(PACKAGE_ROOT, 'dist', 'web-ide'), logger: false });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, without GPU, and without the background traffic this closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
test.after.always(async () => {
  await browser?.close();
  await service?.stop();
});

/** A fresh notebook whose first cell holds `code`, typed as a user would (select all, type over). */
async function notebookWith(code: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1200 } });
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('requestfailed', (request) => failures.push(`${request.url()} failed`));
  await page.goto(service.address);
  await typeInto(page, 0, code);
  if (failures.length > 0) throw new Error(failures.join('; '));
  return page;
}

/** Types `code` over cell `index`'s editor. */
async function typeInto(page: Page, index: number, code: string): Promise<void> {
  const editor = page.locator('.cell .cm-content').nth(index);
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await editor.fill(code);
}

/** Runs cell `index` with Shift+Enter and waits for its status line; the cell's locator. */
async function runCell(page: Page, index: number) {
  await page.locator('.cell .cm-content').nth(index).click();
  await page.keyboard.press('Shift+Enter');
  const cell = page.locator('.cell').nth(index);
  await cell.locator('.status').waitFor();
  return cell;
}

test('cells share one session: the second sees the first\'s variable and shows its value; Shift+Enter moves on', async (t) => {
  const page = await notebookWith('import math\nradius = 2\nprint("radius set")');
  const first = await runCell(page, 0);
  t.is(await first.locator('.output').textContent(), 'radius set\n');
  t.regex((await first.locator('.status').textContent())!, /^ok · \d+ ms$/);
  const second = await runCell(page, 1);
  t.is(await second.locator('.value .repr').textContent(), '12.566370614359172');
  t.is(await second.locator('.gutter').textContent(), '[2]');
  // Shift+Enter on the last cell added a third, empty one, and moved there.
  t.is(await page.locator('.cell').count(), 3);
});

test('a DataFrame as a table and a figure as an image: the figure decodes to its own blue pixels; a screenshot is written', async (t) => {
  const page = await notebookWith('import pandas as pd\nimport matplotlib.pyplot as plt\nframe = pd.DataFrame({"n": [1, 2, 3], "square": [1, 4, 9]})\nframe');
  const table = await runCell(page, 0);
  // The program's HTML, in a sandboxed frame of its own.
  t.is(await table.locator('iframe.html').getAttribute('sandbox'), '');
  t.is(await table.frameLocator('iframe.html').locator('td').nth(3).textContent(), '4');
  await typeInto(page, 1, 'plt.plot(frame["n"], frame["square"], color="#1f77b4", linewidth=4)\nplt.show()');
  const chart = await runCell(page, 1);
  const image = chart.locator('img.figure');
  await image.waitFor();
  // The page's own pixels, read back through a canvas: the PNG decoded, and the line in it.
  const pixels = await image.evaluate(async (element: HTMLImageElement) => {
    await element.decode();
    const canvas = document.createElement('canvas');
    canvas.width = element.naturalWidth;
    canvas.height = element.naturalHeight;
    const context = canvas.getContext('2d')!;
    context.drawImage(element, 0, 0);
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let blue = 0;
    for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - 0x1f) < 8 && Math.abs(data[i + 1]! - 0x77) < 8 && Math.abs(data[i + 2]! - 0xb4) < 8) blue++;
    return { width: canvas.width, height: canvas.height, blue };
  });
  t.true(pixels.width > 100 && pixels.height > 100, JSON.stringify(pixels));
  t.true(pixels.blue > 200, JSON.stringify(pixels));
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, 'web-ide.png'), fullPage: true });
});

test('an exception -> its traceback under its cell, marked bad; the next cell still has the state', async (t) => {
  const page = await notebookWith('kept = 7\ndef divide(a, b):\n    return a / b\nprint(divide(1, 0))');
  const failed = await runCell(page, 0);
  t.regex((await failed.locator('.status.bad').textContent())!, /^error/);
  t.regex((await failed.locator('.traceback').textContent())!, /line 3, in divide[\s\S]*ZeroDivisionError: division by zero/);
  await typeInto(page, 1, 'kept * 6');
  t.is(await (await runCell(page, 1)).locator('.value .repr').textContent(), '42');
});

test('a file the cell writes -> a download link that holds its bytes', async (t) => {
  const page = await notebookWith('open("report.txt", "w").write("made in the sandbox")');
  const cell = await runCell(page, 0);
  const link = cell.locator('.files a');
  t.is(await link.getAttribute('download'), 'report.txt');
  const download = page.waitForEvent('download');
  await link.click();
  const stream = await (await download).createReadStream();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  t.is(Buffer.concat(chunks).toString(), 'made in the sandbox');
});

test('Stop -> the running loop ends in KeyboardInterrupt and the state stays; Restart -> a new session without it', async (t) => {
  const page = await notebookWith('counted = 0\nimport time\nfor i in range(1000):\n    counted = i\n    print(i, flush=True)\n    time.sleep(0.2)');
  await page.locator('.cell .cm-content').first().click();
  await page.keyboard.press('Shift+Enter');
  const loop = page.locator('.cell').first();
  await loop.locator('.output').getByText('1\n', { exact: false }).waitFor();
  await page.click('#stop');
  await loop.locator('.status').waitFor();
  t.regex((await loop.locator('.traceback').textContent())!, /KeyboardInterrupt/);
  await typeInto(page, 1, 'counted > 0');
  t.is(await (await runCell(page, 1)).locator('.value .repr').textContent(), 'True');
  await page.click('#restart');
  await page.locator('#status').getByText(/restarted/).waitFor();
  const fresh = await runCell(page, 1);
  t.regex((await fresh.locator('.traceback').textContent())!, /NameError: name 'counted' is not defined/);
});
