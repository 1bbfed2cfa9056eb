/**
 * The example web IDE (examples/web-ide/index.html) in a real browser: Debian's Chromium,
 * driven by playwright-core, against `serve --demo` on loopback. A user types a program that
 * asks for input, runs it, answers, and reads the output on the page.
 */
import { join } from 'node:path';
import test from 'ava';
import { chromium } from 'playwright-core';
import { PACKAGE_ROOT } from '../../pool/image.js';
import { serve } from '../../service/serve.js';

const CHROMIUM = '/usr/bin/chromium';

test('type a program that asks for input, Run, answer it -> the greeting appears on the page', async (t) => {
  const service = await serve({ host: '127.0.0.1', port: 0, sandbox: { poolSize: 1 }, demoPage: join(PACKAGE_ROOT, 'examples', 'web-ide', 'index.html'), logger: false });
  t.teardown(() => service.stop());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, without GPU, and without the background traffic this closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(service.address);
  await page.fill('#code', 'import sys\nname = input("Your name? ")\nprint(f"Hello, {name}!")\nprint("done", file=sys.stderr)');
  await page.click('#run');
  // The prompt on the page is the program waiting in input().
  await page.locator('#output').getByText('Your name?').waitFor();
  await page.fill('#input', 'Grace');
  await page.press('#input', 'Enter');
  await page.locator('#status').getByText('ok (exit 0)').waitFor();
  t.is(await page.textContent('#output'), 'Your name? Grace\nHello, Grace!\ndone\n');
  t.is(await page.locator('#output .stderr').textContent(), 'done\n');
});
