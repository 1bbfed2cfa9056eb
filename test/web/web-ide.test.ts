/**
 * The example web IDE (examples/web-ide, as built into dist/web-ide) in a real browser:
 * Debian's Chromium, driven by playwright-core, against `serve --demo` on loopback, on the data
 * image (for figures). A user types into the CodeMirror editor, runs with Ctrl+Enter, answers
 * input, stops a loop, and reads the outcome: status, traceback, a figure, a file to download.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { serve, type RunningService } from '../../service/serve.js';
import { dataImageTag } from '../helpers/data-image.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(PACKAGE_ROOT, 'test', 'web', 'output');

let service: RunningService;
let browser: Browser;

test.before(async () => {
  service = await serve({ host: '127.0.0.1', port: 0, sandbox: { poolSize: 2, image: dataImageTag(), memoryLimitMb: 512 }, demoDir: join(PACKAGE_ROOT, 'dist', 'web-ide'), logger: false });
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

/** A fresh page, with `code` typed into the editor as a user would (select all, type over). */
async function pageWith(code: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('requestfailed', (request) => failures.push(`${request.url()} failed`));
  await page.goto(service.address);
  const editor = page.locator('.cm-content');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await editor.fill(code);
  if (failures.length > 0) throw new Error(failures.join('; '));
  return page;
}

test('type a program that asks for input, Ctrl+Enter, answer it -> the greeting and the status line', async (t) => {
  const page = await pageWith('import sys\nname = input("Your name? ")\nprint(f"Hello, {name}!")\nprint("done", file=sys.stderr)');
  await page.keyboard.press('Control+Enter');
  // The prompt on the page is the program waiting in input().
  await page.locator('#output').getByText('Your name?').waitFor();
  await page.fill('#input', 'Grace');
  await page.press('#input', 'Enter');
  await page.locator('#status').getByText(/^ok · exit 0 · \d+ ms$/).waitFor();
  t.is(await page.textContent('#output'), 'Your name? Grace\nHello, Grace!\ndone\n');
  t.is(await page.locator('#output .stderr').textContent(), 'done\n');
  t.true(await page.locator('#traceback').isHidden());
});

test('a figure -> drawn on the page: the image decodes to the plot\'s own blue pixels; a screenshot is written', async (t) => {
  const page = await pageWith('import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 4], color="#1f77b4", linewidth=4)\nplt.show()');
  await page.click('#run');
  await page.locator('#status').getByText(/^ok/).waitFor();
  const image = page.locator('#figures img');
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

test('an exception -> its traceback set apart, the status marked bad', async (t) => {
  const page = await pageWith('def divide(a, b):\n    return a / b\nprint(divide(1, 0))');
  await page.click('#run');
  await page.locator('#status.bad').getByText(/^error · exit 1/).waitFor();
  t.regex((await page.textContent('#traceback'))!, /line 2, in divide[\s\S]*ZeroDivisionError: division by zero/);
});

test('a file the program writes -> a download link that holds its bytes', async (t) => {
  const page = await pageWith('open("report.txt", "w").write("made in the sandbox")');
  await page.click('#run');
  const link = page.locator('#files a');
  await link.waitFor();
  t.is(await link.getAttribute('download'), 'report.txt');
  const download = page.waitForEvent('download');
  await link.click();
  const stream = await (await download).createReadStream();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  t.is(Buffer.concat(chunks).toString(), 'made in the sandbox');
});

test('Stop -> the running loop ends, the page can run again', async (t) => {
  const page = await pageWith('import time\nfor i in range(1000):\n    print(i, flush=True)\n    time.sleep(0.2)');
  await page.click('#run');
  await page.locator('#output').getByText('1\n', { exact: false }).waitFor();
  await page.click('#stop');
  await page.locator('#status').getByText('stopped').waitFor();
  await page.locator('#run:enabled').waitFor();
  await page.locator('.cm-content').fill('print("again")');
  await page.click('#run');
  await page.locator('#status').getByText(/^ok/).waitFor();
  t.is(await page.textContent('#output'), 'again\n');
});
