#!/usr/bin/env node
// Writes docs/planner-accuracy.md from the calibration CSV. Run after `npm run build` (it uses dist/):
//   npm run build && node scripts/planner-accuracy.mjs [path/to/published-measurements.csv]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const csvPath = resolve(process.argv[2] ?? join(root, 'data', 'calibration', 'published-measurements.csv'));
const { accuracyReport } = await import(join(root, 'dist', 'planner', 'calibration', 'accuracy-report.js'));
const prettier = await import('prettier');
const options = (await prettier.resolveConfig(join(root, 'docs', 'planner-accuracy.md'))) ?? {};
const report = await prettier.format(accuracyReport(readFileSync(csvPath, 'utf8')), {
  ...options,
  parser: 'markdown',
});
writeFileSync(join(root, 'docs', 'planner-accuracy.md'), report);
console.log(`wrote docs/planner-accuracy.md from ${csvPath}`);
