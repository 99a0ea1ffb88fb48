/**
 * `edgefleet calibrate` end to end, through the built CLI: an estimate before, a calibration from bench
 * results, and the estimate after moves to the measured speed and says so. Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { binPath } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { makeResults } from './bench-result-fixture.js';

function cli(
  args: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [binPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, EDGEFLEET_HOME: '', ...env },
    timeout: 30_000,
  });
  return { code: child.status ?? -1, stdout: child.stdout, stderr: child.stderr };
}

interface EstimateJson {
  decode: { tokensPerSecondPerStream: number; tokensPerSecond: number };
  timePerOutputTokenMs: number;
  reasons: string[];
  calibrated?: {
    efficiency: number;
    source: string;
    from: { model: string; measuredTokensPerSecond: number };
  };
}

const model = 'deepseek-r1-distill-qwen-1.5b';
const target = ['--quant', 'q4_k_m', '--engine', 'llama.cpp', '--hardware', 'xeon-gold-6454s'];
const estimateArgs = (home: string, extra: string[] = []): string[] => [
  'estimate',
  '--model',
  model,
  ...target,
  '--prompt',
  '128',
  '--output',
  '64',
  '--home',
  home,
  ...extra,
];
const estimateJson = (home: string, extra: string[] = []): EstimateJson => {
  const run = cli([...estimateArgs(home, ['--json', ...extra])]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as EstimateJson;
};

let dir: string;
let slowFile: string;
let fastFile: string;
let slowTps: number;
let fastTps: number;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-calibrate-'));
  const slow = makeResults({ model, concurrency: [1, 4], tpotSeconds: 0.04 });
  const fast = makeResults({ model, concurrency: [1], tpotSeconds: 0.01 });
  slowTps = 1000 / slow.steps[0]!.median_tpot_ms!;
  fastTps = 1000 / fast.steps[0]!.median_tpot_ms!;
  slowFile = join(dir, 'slow.json');
  fastFile = join(dir, 'fast.json');
  await writeFile(slowFile, JSON.stringify(slow));
  await writeFile(fastFile, JSON.stringify(fast));
});

describe('edgefleet calibrate', () => {
  test('the estimate moves to the measurement and says it is calibrated', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const before = estimateJson(home);
    expect(before).not.toHaveProperty('calibrated');
    expect(Math.abs(before.decode.tokensPerSecondPerStream - slowTps)).toBeGreaterThan(1);

    const calibrate = cli(['calibrate', '--from', slowFile, ...target, '--home', home]);
    expect(calibrate.code, calibrate.stderr).toBe(0);
    expect(calibrate.stdout).toMatch(/efficiency \d\.\d{3} stored in/);

    const after = estimateJson(home);
    expect(after.decode.tokensPerSecondPerStream).toBeCloseTo(slowTps, 6);
    expect(after.timePerOutputTokenMs).toBeCloseTo(1000 / slowTps, 6);
    expect(after.calibrated?.efficiency).toBeCloseTo(slowTps / before.decode.tokensPerSecondPerStream, 9);
    expect(after.calibrated?.source).toBe(slowFile);
    expect(after.calibrated?.from.model).toBe(model);

    const human = cli(estimateArgs(home));
    expect(human.stdout).toContain('speed calibrated from a measurement on xeon-gold-6454s with llama.cpp');

    const stored = JSON.parse(await readFile(join(home, 'calibration.json'), 'utf8')) as {
      entries: { measuredTokensPerSecond: number; estimatedTokensPerSecond: number; efficiency: number }[];
    };
    expect(stored.entries).toHaveLength(1);
    expect(stored.entries[0]!.measuredTokensPerSecond).toBeCloseTo(slowTps, 9);
    expect(stored.entries[0]!.estimatedTokensPerSecond).toBeCloseTo(
      before.decode.tokensPerSecondPerStream,
      9,
    );
  });

  test('the latest calibration wins; --uncalibrated and other devices ignore it; $EDGEFLEET_HOME is read', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const plain = estimateJson(home);
    expect(cli(['calibrate', '--from', slowFile, ...target, '--home', home]).code).toBe(0);
    expect(cli(['calibrate', '--from', fastFile, ...target], { EDGEFLEET_HOME: home }).code).toBe(0);
    expect(estimateJson(home).decode.tokensPerSecondPerStream).toBeCloseTo(fastTps, 6);
    expect(estimateJson(home, ['--uncalibrated']).decode.tokensPerSecondPerStream).toBe(
      plain.decode.tokensPerSecondPerStream,
    );
    const other = cli([
      'estimate',
      '--model',
      model,
      '--quant',
      'q4_k_m',
      '--engine',
      'llama.cpp',
      '--hardware',
      'epyc-9654',
      '--home',
      home,
      '--json',
    ]);
    expect(JSON.parse(other.stdout)).not.toHaveProperty('calibrated');
  });

  test('a GGUF that was served is named with --model-file (its quantization is read from it)', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const gguf = await makeTestModel();
    const resultsFile = join(dir, 'gguf.json');
    await writeFile(resultsFile, JSON.stringify(makeResults({ model: 'm.gguf', concurrency: [1] })));
    const refused = cli([
      'calibrate',
      '--from',
      resultsFile,
      '--engine',
      'llama.cpp',
      '--hardware',
      'xeon-gold-6454s',
      '--home',
      home,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the results\' model "m.gguf" is not a catalog model');
    expect(refused.stderr).toContain('--model-file FILE');
    const ok = cli([
      'calibrate',
      '--from',
      resultsFile,
      '--model-file',
      gguf.path,
      '--quant',
      'f16',
      '--engine',
      'llama.cpp',
      '--hardware',
      'xeon-gold-6454s',
      '--home',
      home,
      '--json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      hardware: 'xeon-gold-6454s',
      engine: 'llama.cpp',
      quant: 'f16',
    });
  });

  test('bad input is a clear error with exit 2', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const notJson = join(dir, 'not.json');
    const notResults = join(dir, 'other.json');
    await writeFile(notJson, '{"steps": [');
    await writeFile(notResults, '{"hello": 1}');
    const cases: [string[], RegExp][] = [
      [['--from', notJson, ...target], /--from: .*not\.json is not valid JSON/],
      [['--from', notResults, ...target], /is not an edgefleet bench results file: schema_version/],
      [['--from', join(dir, 'missing.json'), ...target], /--from: cannot read .*missing\.json/],
      [
        ['--from', slowFile, '--quant', 'q4_k_m', '--engine', 'llama.cpp', '--hardware', 'nope'],
        /unknown hardware "nope"; valid ids: /,
      ],
      [
        ['--from', slowFile, '--quant', 'q4_k_m', '--engine', 'nope', '--hardware', 'h200'],
        /unknown engine "nope"/,
      ],
      [
        ['--from', slowFile, '--quant', 'q4_k_m', '--engine', 'llama.cpp'],
        /--from, --hardware and --engine are required/,
      ],
      [['--from', slowFile, '--engine', 'llama.cpp', '--hardware', 'h200'], /--quant is required/],
    ];
    for (const [args, message] of cases) {
      const run = cli(['calibrate', ...args, '--home', home]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
    // A 1.5B model's speed labelled as a 72B model's: far past what the hardware can do, so not stored.
    const mislabelled = join(dir, 'mislabelled.json');
    await writeFile(
      mislabelled,
      JSON.stringify(makeResults({ model: 'qwen2.5-72b', concurrency: [1], tpotSeconds: 0.01 })),
    );
    const refused = cli(['calibrate', '--from', mislabelled, ...target, '--home', home]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/× the planner's .* for qwen2\.5-72b q4_k_m .*more than 3× is not stored/);
    const noSingle = join(dir, 'no-single.json');
    await writeFile(noSingle, JSON.stringify(makeResults({ model, concurrency: [2, 4] })));
    const run = cli(['calibrate', '--from', noSingle, ...target, '--home', home]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no single-stream step .*--concurrency 1/);
    await expect(readFile(join(home, 'calibration.json'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  test('a damaged calibration.json is named in the error', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    await writeFile(join(home, 'calibration.json'), '{"version": 1, "entries": [{"hardware": 3}]}');
    const run = cli(estimateArgs(home));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(join(home, 'calibration.json'));
    expect(cli(estimateArgs(home, ['--uncalibrated'])).code).toBe(0);
  });
});
