import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, test } from 'vitest';
import { accuracyReport } from '../../src/planner/calibration/accuracy-report.js';
import {
  calibrationCases,
  parseCsv,
  parseCsvRecords,
} from '../../src/planner/calibration/calibration-cases.js';
import { fitSpeedFactors, median, relativeError } from '../../src/planner/calibration/fit-speed-factors.js';
import { shippedSpeedFactors } from '../../src/planner/speed-factors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const csvPath = join(root, 'data', 'calibration', 'published-measurements.csv');
const csv = readFileSync(csvPath, 'utf8');
const { cases, excluded } = calibrationCases(parseCsvRecords(csv));

describe('speed model against published measurements', () => {
  test('the CSV parser handles quotes, doubled quotes and commas inside fields', () => {
    expect(parseCsv('a,b\n"x, y","say ""hi"""\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
    ]);
  });

  test('every single-stream decode row and every prefill row maps to catalog ids', () => {
    expect(cases.filter((c) => c.singleStream)).toHaveLength(11);
    expect(cases.filter((c) => c.kind === 'prefill')).toHaveLength(4);
    expect(excluded.filter((row) => row.metric === 'decode_tok_s_single_stream')).toEqual([]);
  });

  test('shipped factors are exactly what the fit produces', () => {
    expect(fitSpeedFactors(cases)).toEqual(shippedSpeedFactors);
  });

  test('median absolute error on single-stream decode rows is at most 20%', () => {
    const errors = cases.filter((c) => c.singleStream).map((c) => relativeError(c, shippedSpeedFactors));
    expect(median(errors)).toBeLessThanOrEqual(0.2);
  });

  test('docs/planner-accuracy.md is current (regenerate: npm run build && node scripts/planner-accuracy.mjs)', async () => {
    const path = join(root, 'docs', 'planner-accuracy.md');
    const options = (await resolveConfig(path)) ?? {};
    const expected = await format(accuracyReport(csv), { ...options, parser: 'markdown' });
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });
});
