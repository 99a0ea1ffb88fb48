import { describe, expect, test } from 'vitest';
import { estimate } from '../../src/planner/estimate.js';
import { inputFromIds, type EstimateRequest } from '../../src/planner/estimate-input.js';

const run = (request: EstimateRequest) => estimate(inputFromIds(request));

describe('the issue’s claims', () => {
  test('a 14B distill fits one RTX 4090 at Q4_K_M and Q8_0 but not in BF16', () => {
    const base = { model: 'deepseek-r1-distill-qwen-14b', engine: 'llama.cpp', hardware: 'rtx-4090' };
    expect(run({ ...base, quant: 'q4_k_m' }).fits).toBe(true);
    expect(run({ ...base, quant: 'q8_0' }).fits).toBe(true);
    const bf16 = run({ ...base, quant: 'bf16' });
    expect(bf16.fits).toBe(false);
    expect(bf16.reasons.join(' ')).toMatch(/memory/);
    // Also with a serving engine.
    expect(run({ ...base, engine: 'vllm', quant: 'bf16' }).fits).toBe(false);
  });

  test('a 32B distill fits 4×A100-40GB in BF16 with tensor parallel 4', () => {
    const result = run({
      model: 'deepseek-r1-distill-qwen-32b',
      quant: 'bf16',
      engine: 'vllm',
      hardware: 'a100-40gb',
      count: 4,
    });
    expect(result.fits).toBe(true);
    expect(result.memory.perDeviceBytes).toBeLessThan(0.9 * 40 * 1024 ** 3);
    expect(
      run({ model: 'deepseek-r1-distill-qwen-32b', quant: 'bf16', engine: 'vllm', hardware: 'a100-40gb' })
        .fits,
    ).toBe(false);
  });

  test('DeepSeek-R1 in FP8 fits 8×H200 but not 8×A100-80GB', () => {
    const h200 = run({ model: 'deepseek-r1', quant: 'fp8', engine: 'sglang', hardware: 'h200', count: 8 });
    expect(h200.fits).toBe(true);
    const a100 = run({ model: 'deepseek-r1', quant: 'fp8', engine: 'vllm', hardware: 'a100-80gb', count: 8 });
    expect(a100.fits).toBe(false);
    expect(a100.reasons.join(' ')).toMatch(/no native FP8/);
    const a100Bf16 = run({
      model: 'deepseek-r1',
      quant: 'bf16',
      engine: 'vllm',
      hardware: 'a100-80gb',
      count: 8,
    });
    expect(a100Bf16.fits).toBe(false);
    expect(a100Bf16.reasons.join(' ')).toMatch(/memory per device/);
  });

  test('a Q4_K_M GGUF of DeepSeek-R1 fits 8×A100-80GB with llama.cpp', () => {
    const result = run({
      model: 'deepseek-r1',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'a100-80gb',
      count: 8,
    });
    expect(result.fits).toBe(true);
    // 376.65 GiB is the published file size of the Q4_K_M GGUF.
    expect(result.memory.weightsBytes / 1024 ** 3).toBeGreaterThan(376.65 * 0.97);
    expect(result.memory.weightsBytes / 1024 ** 3).toBeLessThan(376.65 * 1.03);
  });

  test('the 1.5B distill does not fit the hi3861, and the reason names memory', () => {
    const result = run({
      model: 'deepseek-r1-distill-qwen-1.5b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'hi3861',
    });
    expect(result.fits).toBe(false);
    expect(result.reasons.some((reason) => /memory/.test(reason) && /hi3861/.test(reason))).toBe(true);
    expect(result.maxConcurrency).toBe(0);
  });
});

describe('memory arithmetic', () => {
  test('MLA caches 576 elements per token and layer, replicated on every tensor-parallel rank', () => {
    const r1 = run({
      model: 'deepseek-r1',
      quant: 'fp8',
      engine: 'vllm',
      hardware: 'h200',
      count: 8,
      contextTokens: 4096,
    });
    const perDevice = r1.memory.kvCacheBytes / 8;
    expect(perDevice).toBe(576 * 61 * 4096 * 2);
  });

  test('GQA KV splits over tensor-parallel ranks; llama.cpp pads context to 256', () => {
    const tp = run({
      model: 'llama-3.1-8b',
      quant: 'bf16',
      engine: 'vllm',
      hardware: 'h100-sxm',
      count: 2,
      contextTokens: 4096,
    });
    expect(tp.memory.kvCacheBytes / 2).toBe((2 * 8 * 128 * 32 * 2 * 4096) / 2);
    const padded = run({
      model: 'llama-3.1-8b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'rtx-4090',
      contextTokens: 1000,
    });
    expect(padded.memory.kvCacheBytes).toBe(2 * 8 * 128 * 32 * 2 * 1024);
  });

  test('vLLM weights per GPU match its log for the 14B distill in BF16 with TP2 (13.95 GiB)', () => {
    const result = run({
      model: 'deepseek-r1-distill-qwen-14b',
      quant: 'bf16',
      engine: 'vllm',
      hardware: 'rtx-4090',
      count: 2,
    });
    const perGpuGiB = result.memory.weightsBytes / 2 / 1024 ** 3;
    expect(Math.abs(perGpuGiB - 13.9476) / 13.9476).toBeLessThan(0.03);
  });

  test('KTransformers keeps DeepSeek-V3 experts in host memory (published: 382 GB DRAM + 14 GB VRAM)', () => {
    const result = run({
      model: 'deepseek-v3',
      quant: 'q4_k_m',
      engine: 'ktransformers',
      hardware: 'rtx-4090',
      host: { hardware: 'xeon-gold-6454s', count: 1 },
    });
    expect(result.fits).toBe(true);
    expect(result.memory.hostBytes / 1e9).toBeGreaterThan(340);
    expect(result.memory.hostBytes / 1e9).toBeLessThan(420);
    expect(result.memory.perDeviceBytes / 1e9).toBeLessThan(24);
  });
});
