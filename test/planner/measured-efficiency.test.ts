/** Measured efficiency: the ratio, picking the latest entry, and the planner applying it to decode speed. */
import { describe, expect, test } from 'vitest';
import { singleStreamSpeed } from '../../src/bench/report/single-stream-speed.js';
import {
  latestCalibration,
  measuredEfficiency,
  speedCalibrationOf,
  withCalibration,
  type CalibrationEntry,
} from '../../src/planner/calibration/measured-efficiency.js';
import { estimate } from '../../src/planner/estimate.js';
import { inputFromIds } from '../../src/planner/estimate-input.js';
import { recommend } from '../../src/planner/recommend.js';
import { findHardware } from '../../src/catalog/hardware/hardware-catalog.js';
import { makeResults, makeStep } from '../bench-report/bench-result-fixture.js';

const entry = (overrides: Partial<CalibrationEntry>): CalibrationEntry => ({
  hardware: 'rtx-4090',
  engine: 'llama.cpp',
  model: 'deepseek-r1-distill-qwen-1.5b',
  quant: 'q4_k_m',
  count: 1,
  promptTokens: 128,
  outputTokens: 64,
  measuredTokensPerSecond: 150,
  estimatedTokensPerSecond: 200,
  efficiency: 0.75,
  source: 'results.json',
  atMs: 1000,
  ...overrides,
});

describe('measuredEfficiency', () => {
  test('is measured ÷ estimated', () => {
    expect(measuredEfficiency(150, 200)).toBe(0.75);
    expect(measuredEfficiency(300, 200)).toBe(1.5);
  });
  test('refuses zero, negative and non-finite speeds', () => {
    expect(() => measuredEfficiency(0, 200)).toThrow(/measured decode speed must be positive/);
    expect(() => measuredEfficiency(150, Number.NaN)).toThrow(/estimated decode speed must be positive/);
    expect(() => measuredEfficiency(-1, 200)).toThrow(/positive/);
  });
});

describe('latestCalibration', () => {
  const entries = [
    entry({ atMs: 1000, efficiency: 0.5 }),
    entry({ atMs: 3000, efficiency: 0.9 }),
    entry({ atMs: 2000, efficiency: 0.7 }),
    entry({ engine: 'vllm', atMs: 9000, efficiency: 1.2 }),
  ];
  test('the latest entry for this hardware and engine wins', () => {
    expect(latestCalibration(entries, 'rtx-4090', 'llama.cpp')?.efficiency).toBe(0.9);
    expect(latestCalibration(entries, 'rtx-4090', 'vllm')?.efficiency).toBe(1.2);
  });
  test('null when nothing was measured there', () => {
    expect(latestCalibration(entries, 'h200', 'llama.cpp')).toBeNull();
  });
  test('appending keeps older entries', () => {
    const file = withCalibration(withCalibration(null, entries[0]!), entries[1]!);
    expect(file.entries.map((e) => e.efficiency)).toEqual([0.5, 0.9]);
  });
});

describe('estimate with a calibration', () => {
  const base = inputFromIds({
    model: 'deepseek-r1-distill-qwen-1.5b',
    quant: 'q4_k_m',
    engine: 'llama.cpp',
    hardware: 'rtx-4090',
    promptTokens: 128,
    outputTokens: 64,
  });
  const plain = estimate(base);
  const calibrated = estimate({ ...base, calibration: speedCalibrationOf(entry({ efficiency: 0.6 })) });

  test('multiplies decode speed by the efficiency and leaves prefill and memory alone', () => {
    expect(calibrated.decode.tokensPerSecondPerStream).toBeCloseTo(
      plain.decode.tokensPerSecondPerStream * 0.6,
      9,
    );
    expect(calibrated.timePerOutputTokenMs).toBeCloseTo(plain.timePerOutputTokenMs / 0.6, 9);
    expect(calibrated.prefill.tokensPerSecond).toBe(plain.prefill.tokensPerSecond);
    expect(calibrated.memory).toEqual(plain.memory);
    expect(calibrated.costPerMillionOutputTokensUsd).toBeGreaterThan(plain.costPerMillionOutputTokensUsd!);
  });
  test('marks the answer and says so in the reasons; the roofline answer has no mark', () => {
    expect(calibrated.calibrated).toMatchObject({ efficiency: 0.6, source: 'results.json' });
    expect(calibrated.reasons.join('\n')).toMatch(
      /decode speed × 0\.600, measured on rtx-4090 with llama\.cpp/,
    );
    expect(plain).not.toHaveProperty('calibrated');
    expect(calibrated.reasons.join('\n')).not.toContain('transfers best');
  });
  test('a measurement with another model says so', () => {
    const other = estimate({
      ...base,
      calibration: speedCalibrationOf(entry({ model: 'qwen2.5-7b', quant: 'bf16' })),
    });
    expect(other.reasons.join('\n')).toContain(
      'measured with qwen2.5-7b bf16, so it transfers best to models of similar size',
    );
  });
});

describe('recommend with a calibration', () => {
  test('scales the measured engine’s rows and marks them; other engines keep the roofline', () => {
    const request = { hardware: findHardware('rtx-4090'), count: 1 };
    const key = (r: { model: string; quant: string; engine: string; devicesPerInstance: number }): string =>
      `${r.model}|${r.quant}|${r.engine}|${r.devicesPerInstance}`;
    const plain = new Map(recommend(request).map((r) => [key(r), r]));
    const rows = recommend({
      ...request,
      calibrations: { 'llama.cpp': speedCalibrationOf(entry({ efficiency: 0.5 })) },
    });
    const llama = rows.find((r) => r.engine === 'llama.cpp' && r.model === 'deepseek-r1-distill-qwen-1.5b')!;
    const vllm = rows.find((r) => r.engine === 'vllm')!;
    expect(llama.calibrated).toBe(true);
    expect(llama.why.join(' ')).toContain('speed calibrated: measured × 0.500');
    expect(llama.timePerOutputTokenMs).toBeGreaterThan(plain.get(key(llama))!.timePerOutputTokenMs * 1.9);
    expect(vllm.calibrated).toBe(false);
    expect(vllm.decodeTokensPerSecondPerStream).toBe(plain.get(key(vllm))!.decodeTokensPerSecondPerStream);
  });
});

describe('singleStreamSpeed', () => {
  test('is 1000 / median TPOT of the concurrency-1 step, at that step’s mean token counts', () => {
    const results = makeResults({ concurrency: [4, 1, 8] });
    const speed = singleStreamSpeed(results);
    expect(speed.step).toBe(1);
    expect(speed.tokensPerSecond).toBeCloseTo(1000 / results.steps[1]!.median_tpot_ms!, 9);
    expect(speed.promptTokens).toBe(128);
    expect(speed.outputTokens).toBe(64);
  });
  test('failed requests do not lower the mean token counts', () => {
    const step = makeStep({ concurrency: 1, failures: [{ kind: 'timeout', message: 'timed out' }] });
    const speed = singleStreamSpeed(makeResults({ steps: [step], concurrency: [1] }));
    expect(speed.promptTokens).toBe(128);
  });
  test('without a single-stream step it says what to run', () => {
    expect(() => singleStreamSpeed(makeResults({ concurrency: [2, 4] }))).toThrow(/--concurrency 1/);
  });
});
