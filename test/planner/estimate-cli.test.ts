import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { run } from '../../src/cli/estimate.js';
import { makeTestModel } from '../helpers/models.js';
import { runCli } from './cli-harness.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-estimate-'));
});

const r1DistillQwen7bConfig = {
  architectures: ['Qwen2ForCausalLM'],
  hidden_size: 3584,
  intermediate_size: 18944,
  max_position_embeddings: 131072,
  model_type: 'qwen2',
  num_attention_heads: 28,
  num_hidden_layers: 28,
  num_key_value_heads: 4,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 152064,
  rope_theta: 10000,
};

describe('edgefleet estimate', () => {
  test('--json prints every documented field', async () => {
    const { code, stdout } = await runCli(run, [
      '--model',
      'deepseek-r1-distill-qwen-14b',
      '--quant',
      'q4_k_m',
      '--engine',
      'llama.cpp',
      '--hardware',
      'rtx-4090',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as Record<string, unknown>;
    for (const key of [
      'fits',
      'reasons',
      'memory',
      'decode',
      'prefill',
      'timeToFirstTokenMs',
      'timePerOutputTokenMs',
      'maxConcurrency',
      'energyJoulesPerToken',
      'costPerMillionOutputTokensUsd',
    ]) {
      expect(result).toHaveProperty(key);
    }
    expect(Object.keys(result.memory as object)).toEqual(
      expect.arrayContaining([
        'weightsBytes',
        'kvCacheBytes',
        'computeBytes',
        'overheadBytes',
        'perDeviceBytes',
        'hostBytes',
      ]),
    );
    expect(Object.keys(result.decode as object)).toEqual(['tokensPerSecondPerStream', 'tokensPerSecond']);
    expect(result.fits).toBe(true);
  });

  test('without --json prints a readable table', async () => {
    const { code, stdout } = await runCli(run, [
      '--model',
      'deepseek-r1-distill-qwen-1.5b',
      '--quant',
      'q4_k_m',
      '--engine',
      'llama.cpp',
      '--hardware',
      'hi3861',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/fits\s+NO/);
    expect(stdout).toMatch(/why not:\n\s+- needs .* memory/);
  });

  test('--model-config reads a Hugging Face config.json', async () => {
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify(r1DistillQwen7bConfig));
    const fromConfig = JSON.parse(
      (
        await runCli(run, [
          '--model-config',
          path,
          '--quant',
          'q4_k_m',
          '--engine',
          'llama.cpp',
          '--hardware',
          'rtx-4090',
          '--json',
        ])
      ).stdout,
    ) as { memory: { weightsBytes: number; kvCacheBytes: number } };
    const fromCatalog = JSON.parse(
      (
        await runCli(run, [
          '--model',
          'deepseek-r1-distill-qwen-7b',
          '--quant',
          'q4_k_m',
          '--engine',
          'llama.cpp',
          '--hardware',
          'rtx-4090',
          '--json',
        ])
      ).stdout,
    ) as { memory: { weightsBytes: number; kvCacheBytes: number } };
    expect(fromConfig.memory).toEqual(fromCatalog.memory);
  });

  test('--model-file reads a GGUF header and uses its exact tensor bytes and file type', async () => {
    const made = await makeTestModel({
      layers: 4,
      hidden: 256,
      heads: 8,
      kvHeads: 2,
      type: 'q8_0',
      vocabSize: 2000,
    });
    const { code, stdout } = await runCli(run, [
      '--model-file',
      made.path,
      '--engine',
      'llama.cpp',
      '--hardware',
      'rtx-3090',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { quant: string; memory: { weightsBytes: number }; fits: boolean };
    expect(result.quant).toBe('q8_0');
    expect(result.fits).toBe(true);
    expect(result.memory.weightsBytes).toBeLessThan(made.bytes);
    expect(result.memory.weightsBytes).toBeGreaterThan(made.bytes * 0.8);
    const noEngine = await runCli(run, ['--model-file', made.path, '--hardware', 'rtx-3090']);
    expect(noEngine.code).toBe(2);
    expect(noEngine.stderr).toMatch(/^edgefleet estimate: --engine is required\n/);
  });

  test('--model-file of a type that is no known quantization (F32) asks for --quant and says why', async () => {
    const made = await makeTestModel({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, type: 'f32' });
    const args = ['--model-file', made.path, '--engine', 'llama.cpp', '--hardware', 'rtx-3090'];
    const refused = await runCli(run, args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^edgefleet estimate: --quant is required \(the quantization to estimate\): the GGUF file's type ALL_F32 is not a quantization the planner knows; one of [^\n]*\bf16\b/,
    );
    const given = await runCli(run, [...args, '--quant', 'f16', '--json']);
    expect(given.code).toBe(0);
    expect((JSON.parse(given.stdout) as { quant: string }).quant).toBe('f16');
  });

  test('--hardware-spec reads a custom device', async () => {
    const path = join(dir, 'npu.json');
    await writeFile(
      path,
      JSON.stringify({
        name: 'Edge NPU',
        kind: 'npu',
        memoryBytes: 16e9,
        memoryBandwidthBytesPerSecond: 200e9,
        fp16Flops: 50e12,
        int8Ops: 100e12,
        pricePerHourUsd: 0.1,
      }),
    );
    const { code, stdout } = await runCli(run, [
      '--model',
      'deepseek-r1-distill-qwen-7b',
      '--quant',
      'q4_k_m',
      '--engine',
      'llama.cpp',
      '--hardware-spec',
      path,
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as {
      hardware: string;
      fits: boolean;
      costPerMillionOutputTokensUsd: number;
    };
    expect(result).toMatchObject({ hardware: 'edge-npu', fits: true });
    expect(result.costPerMillionOutputTokensUsd).toBeGreaterThan(0);
  });
});

describe('edgefleet estimate: bad input', () => {
  const base = ['--quant', 'q4_k_m', '--engine', 'llama.cpp', '--hardware', 'rtx-4090'];
  test.each([
    [['--model', 'gpt-5', ...base], /unknown model "gpt-5"; valid ids: .*deepseek-r1/],
    [
      ['--model', 'deepseek-r1', '--quant', 'q3', '--engine', 'llama.cpp', '--hardware', 'h200'],
      /unknown quantization "q3"; valid ids: .*q4_k_m/,
    ],
    [
      ['--model', 'deepseek-r1', '--quant', 'fp8', '--engine', 'tgi', '--hardware', 'h200'],
      /unknown engine "tgi"; valid ids: .*sglang/,
    ],
    [
      ['--model', 'deepseek-r1', '--quant', 'fp8', '--engine', 'vllm', '--hardware', 'b200'],
      /unknown hardware "b200"; valid ids: .*h200/,
    ],
    [['--quant', 'q4_k_m', '--engine', 'llama.cpp', '--hardware', 'rtx-4090'], /exactly one of --model/],
    [['--model', 'deepseek-r1', ...base, '--count', '0'], /--count must be an integer ≥ 1/],
    [['--model', 'deepseek-r1', ...base, '--bogus'], /Unknown option '--bogus'/],
  ])('%j → usage error', async (args, message) => {
    const { code, stderr } = await runCli(run, args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  test('malformed config files give a clear error', async () => {
    const notJson = join(dir, 'broken.json');
    await writeFile(notJson, '{"hidden_size": 4096,');
    const missing = join(dir, 'partial.json');
    await writeFile(missing, JSON.stringify({ hidden_size: 4096, num_hidden_layers: 'many' }));
    const badSpec = join(dir, 'bad-hw.json');
    await writeFile(badSpec, JSON.stringify({ name: 'x', kind: 'tpu', memoryBytes: -1 }));
    const notGguf = join(dir, 'model.gguf');
    await writeFile(notGguf, 'this is not a gguf file at all, just text');
    const rest = ['--quant', 'q4_k_m', '--engine', 'llama.cpp'];
    const broken = await runCli(run, ['--model-config', notJson, ...rest, '--hardware', 'rtx-4090']);
    expect(broken.stderr).toMatch(/broken\.json is not valid JSON/);
    const partial = await runCli(run, ['--model-config', missing, ...rest, '--hardware', 'rtx-4090']);
    expect(partial.stderr).toMatch(/invalid config\.json .*num_hidden_layers: .*number.*num_attention_heads/);
    const spec = await runCli(run, ['--model', 'llama-3.1-8b', ...rest, '--hardware-spec', badSpec]);
    expect(spec.stderr).toMatch(/--hardware-spec .*kind: .*memoryBytes/);
    const gguf = await runCli(run, ['--model-file', notGguf, ...rest, '--hardware', 'rtx-4090']);
    expect(gguf.code).not.toBe(0);
    expect(gguf.stderr).toMatch(/GGUF/i);
    const absent = await runCli(run, [
      '--model-config',
      join(dir, 'nope.json'),
      ...rest,
      '--hardware',
      'rtx-4090',
    ]);
    expect(absent.stderr).toMatch(/cannot read .*nope\.json/);
    for (const result of [broken, partial, spec]) expect(result.code).toBe(2);
  });
});
