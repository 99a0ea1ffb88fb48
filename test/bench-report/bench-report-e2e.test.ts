/**
 * A real run end to end, through the built CLI: `edgefleet bench --out --report` against `edgefleet up`
 * serving a generated model, the report carrying that run's numbers, then `edgefleet calibrate` from it and
 * `edgefleet estimate` moving to the measured speed. Run `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatValue } from '../../src/bench/report/report-format.js';
import { benchResultSchema, type BenchResult } from '../../src/spec/bench-result.js';
import { binPath, startEdgeFleet, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      env: { ...process.env, EDGEFLEET_HOME: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('edgefleet bench → report → calibrate, against edgefleet up', () => {
  let server: RunningEdgeFleet;
  let model: TestModel;
  let dir: string;
  let results: BenchResult;
  let html: string;

  beforeAll(async () => {
    model = await makeTestModel();
    dir = await mkdtemp(join(tmpdir(), 'edgefleet-bench-report-'));
    server = await startEdgeFleet(['--model', model.path, '--name', 'm', '--parallel', '2', '--offline']);
    const run = await cli([
      'bench',
      '--url',
      server.baseUrl,
      '--model',
      'm',
      '--concurrency',
      '1,2',
      '--requests',
      '6',
      '--prompt-tokens',
      '48',
      '--output-tokens',
      '24',
      '--out',
      join(dir, 'results.json'),
      '--report',
      join(dir, 'report.html'),
    ]);
    expect(run.code, run.stderr).toBe(0);
    results = benchResultSchema.parse(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')));
    html = await readFile(join(dir, 'report.html'), 'utf8');
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  test('the report holds the run’s numbers, its charts, and loads nothing', () => {
    expect(results.steps.map((s) => s.completed)).toEqual([6, 6]);
    results.steps.forEach((step, i) => {
      const row = html.slice(html.indexOf(`<tr data-step="${i}">`));
      expect(row).toContain(`data-field="completed">6<`);
      expect(row).toContain(`data-field="p50_ttft_ms">${formatValue(step.p50_ttft_ms)}<`);
      expect(row).toContain(`data-field="output_throughput">${formatValue(step.output_throughput)}<`);
    });
    expect(html.match(/<svg class="chart line-chart"/g)).toHaveLength(5);
    expect(html.match(/<svg class="chart histogram"/g)).toHaveLength(4);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
  });

  test('calibrating from it moves the estimate to the measured speed', async () => {
    const home = join(dir, 'home');
    const target = ['--model-file', model.path, '--engine', 'llama.cpp', '--hardware', 'xeon-gold-6454s'];
    const calibrate = await cli([
      'calibrate',
      '--from',
      join(dir, 'results.json'),
      ...target,
      '--quant',
      'f16',
      '--home',
      home,
      '--json',
    ]);
    expect(calibrate.code, calibrate.stderr).toBe(0);
    const entry = JSON.parse(calibrate.stdout) as {
      promptTokens: number;
      outputTokens: number;
      measuredTokensPerSecond: number;
    };
    expect(entry.measuredTokensPerSecond).toBeCloseTo(1000 / results.steps[0]!.median_tpot_ms!, 6);
    const workload = [
      '--quant',
      'f16',
      '--prompt',
      String(entry.promptTokens),
      '--output',
      String(entry.outputTokens),
    ];
    const estimate = await cli(['estimate', ...target, ...workload, '--home', home, '--json']);
    expect(estimate.code, estimate.stderr).toBe(0);
    const answer = JSON.parse(estimate.stdout) as {
      decode: { tokensPerSecondPerStream: number };
      calibrated?: object;
    };
    expect(answer.decode.tokensPerSecondPerStream).toBeCloseTo(entry.measuredTokensPerSecond, 6);
    expect(answer.calibrated).toBeDefined();
  });
});
