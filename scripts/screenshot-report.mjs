#!/usr/bin/env node
// Takes a PNG screenshot of a local HTML file (an `edgefleet bench --report` page) with a system Chromium
// driven by playwright-core, and fails if the page requested anything but the file itself: the report must
// open offline. Used for docs/images/bench-report.png.
//
// Usage: node scripts/screenshot-report.mjs REPORT.html OUT.png [--width 1200] [--height 1500] [--full]
// Environment: CHROMIUM_PATH (default /usr/bin/chromium; Debian: apt-get install chromium)
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { width: { type: 'string' }, height: { type: 'string' }, full: { type: 'boolean' } },
});
const [input, output] = positionals;
if (!input || !output) {
  process.stderr.write(
    'usage: node scripts/screenshot-report.mjs REPORT.html OUT.png [--width W] [--height H] [--full]\n',
  );
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({
    viewport: { width: Number(values.width ?? 1200), height: Number(values.height ?? 1500) },
  });
  const url = pathToFileURL(resolve(input)).href;
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url);
  await page.screenshot({ path: output, fullPage: values.full === true });
  const external = requests.filter((r) => r !== url);
  if (external.length > 0) {
    process.stderr.write(`the page requested ${external.length} other resources:\n${external.join('\n')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`wrote ${output}; the page requested nothing but itself\n`);
  }
} finally {
  await browser.close();
}
