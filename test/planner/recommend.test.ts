import { describe, expect, test } from 'vitest';
import { run } from '../../src/cli/recommend.js';
import { findHardware } from '../../src/catalog/hardware/hardware-catalog.js';
import { recommend } from '../../src/planner/recommend.js';
import { runCli } from './cli-harness.js';

describe('recommend', () => {
  test('8×H200: DeepSeek-R1/V3 (the largest models) come first, and every row fits', () => {
    const rows = recommend({ hardware: findHardware('h200'), count: 8, sloTpotMs: 100 });
    expect(rows[0]!.model).toMatch(/^deepseek-(r1|v3)$/);
    expect(rows[0]!.meetsSlo).toBe(true);
    // Sub-4-bit formats (iq1_s) rank after every ≥ 4-bit one; within each group, larger models first.
    const slo = rows.filter((row) => row.meetsSlo && row.quant !== 'iq1_s');
    for (let i = 1; i < slo.length; i++) expect(slo[i - 1]!.paramsB).toBeGreaterThanOrEqual(slo[i]!.paramsB);
    for (const row of slo) expect(row.timePerOutputTokenMs).toBeLessThanOrEqual(100);
    expect(
      rows.some((row) => row.model === 'deepseek-r1' && row.quant === 'fp8' && row.devicesPerInstance === 8),
    ).toBe(true);
  });

  test('one RTX 4090 never offers a model that needs more than its memory; SLO misses are explained', () => {
    const rows = recommend({
      hardware: findHardware('rtx-4090'),
      count: 1,
      sloTtftMs: 1000,
      sloTpotMs: 30,
      users: 4,
    });
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((row) => row.perDeviceBytes <= 24 * 1024 ** 3)).toBe(true);
    // DeepSeek-R1 only as IQ1_S with its experts in host memory (llama.cpp -ot / KTransformers).
    for (const row of rows.filter((r) => r.model === 'deepseek-r1')) {
      expect(row.quant).toBe('iq1_s');
      expect(row.hostBytes).toBeGreaterThan(100e9);
    }
    const missed = rows.filter((row) => !row.meetsSlo);
    expect(missed.length).toBeGreaterThan(0);
    for (const row of missed) expect(row.why.join(' ')).toMatch(/SLO|users/);
    const met = rows.filter((row) => row.meetsSlo);
    expect(met.length).toBeGreaterThan(0);
    for (const row of met) expect(row.totalStreams).toBeGreaterThanOrEqual(4);
  });

  test('the hi3861 gets nothing', () => {
    expect(recommend({ hardware: findHardware('hi3861'), count: 1 })).toEqual([]);
  });
});

describe('edgefleet recommend', () => {
  test('prints a ranked table and JSON', async () => {
    const table = await runCli(run, [
      '--hardware',
      'a100-80gb',
      '--count',
      '2',
      '--slo-tpot-ms',
      '60',
      '--limit',
      '5',
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^#\s+MODEL\s+QUANT\s+ENGINE/);
    expect(table.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(6);
    const json = await runCli(run, ['--hardware', 'a100-80gb', '--count', '2', '--json', '--limit', '3']);
    const rows = JSON.parse(json.stdout) as { model: string; why: string[] }[];
    expect(rows).toHaveLength(3);
  });

  test('bad input is a usage error naming valid ids', async () => {
    const unknown = await runCli(run, ['--hardware', 'tpu-v5']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown hardware "tpu-v5"; valid ids: .*rtx-4090/);
    const none = await runCli(run, ['--count', '2']);
    expect(none.stderr).toMatch(/exactly one of --hardware/);
    const zero = await runCli(run, ['--hardware', 'h200', '--slo-tpot-ms', '0']);
    expect(zero.stderr).toMatch(/--slo-tpot-ms must be an integer ≥ 1/);
  });
});
