import { describe, expect, test } from 'vitest';
import { webSearchQueryPriceUsd } from '../../src/planner/cost-energy.js';
import { estimate } from '../../src/planner/estimate.js';
import { decodeStepSeconds } from '../../src/planner/estimate-speed.js';
import { inputFromIds, type EstimateRequest } from '../../src/planner/estimate-input.js';
import { expertsTouched } from '../../src/planner/model-parameters.js';

const run = (request: EstimateRequest) => estimate(inputFromIds(request));

describe('speed model behaviour', () => {
  test('MoE decode reads only the active experts at batch 1 and more as the batch grows', () => {
    expect(expertsTouched(256, 8, 1)).toBeCloseTo(8, 6);
    expect(expertsTouched(256, 8, 64)).toBeGreaterThan(200);
    expect(expertsTouched(256, 8, 10_000)).toBeCloseTo(256, 3);
    const input = inputFromIds({
      model: 'deepseek-r1',
      quant: 'fp8',
      engine: 'sglang',
      hardware: 'h200',
      count: 8,
    });
    const one = decodeStepSeconds(input, 1, 1024, 0);
    const many = decodeStepSeconds(input, 64, 1024, 0);
    expect(many).toBeGreaterThan(2 * one);
    expect(many).toBeLessThan(64 * one);
  });

  test('tensor parallel adds bandwidth; llama.cpp layer split does not', () => {
    const base = { model: 'llama-3.3-70b', quant: 'fp8', hardware: 'h100-sxm' } as const;
    const tp1 = run({
      ...base,
      engine: 'vllm',
      count: 1,
      contextTokens: 2048,
      promptTokens: 100,
      outputTokens: 100,
    });
    const tp4 = run({ ...base, engine: 'vllm', count: 4 });
    expect(tp4.decode.tokensPerSecondPerStream).toBeGreaterThan(2 * tp1.decode.tokensPerSecondPerStream);
    const gguf = {
      model: 'llama-3.3-70b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'rtx-4090',
    } as const;
    const split2 = run({ ...gguf, count: 2 });
    const split4 = run({ ...gguf, count: 4 });
    expect(split4.decode.tokensPerSecondPerStream).toBeCloseTo(split2.decode.tokensPerSecondPerStream, 0);
  });

  test('batching raises total throughput but slows each stream; TTFT grows with the prompt', () => {
    const base = { model: 'qwen3-8b', quant: 'bf16', engine: 'vllm', hardware: 'h100-sxm' } as const;
    const single = run(base);
    const batched = run({ ...base, batch: 32 });
    expect(batched.decode.tokensPerSecond).toBeGreaterThan(10 * single.decode.tokensPerSecond);
    expect(batched.decode.tokensPerSecondPerStream).toBeLessThan(single.decode.tokensPerSecondPerStream);
    expect(run({ ...base, promptTokens: 8000 }).timeToFirstTokenMs).toBeGreaterThan(
      10 * single.timeToFirstTokenMs,
    );
  });
});

describe('cost and energy', () => {
  test('cost per million output tokens follows price ÷ throughput, and an answer is set beside a web search', () => {
    const result = run({
      model: 'deepseek-r1-distill-qwen-7b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'rtx-4090',
    });
    const expected = (0.35 / 3600 / result.decode.tokensPerSecond) * 1e6;
    expect(result.costPerMillionOutputTokensUsd).toBeCloseTo(expected, 6);
    expect(result.energyJoulesPerToken).toBeCloseTo(450 / result.decode.tokensPerSecond, 6);
    expect(result.answerCostInWebSearches).toBeCloseTo(result.costPerAnswerUsd! / webSearchQueryPriceUsd, 9);
    const answerSeconds = 500 / result.prefill.tokensPerSecond + 1000 / result.decode.tokensPerSecond;
    expect(result.costPerAnswerUsd).toBeCloseTo((0.35 / 3600) * answerSeconds, 9);
  });

  test('unknown prices give null cost but still energy', () => {
    const result = run({
      model: 'deepseek-r1-distill-qwen-1.5b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'hi3861',
    });
    expect(result.costPerMillionOutputTokensUsd).toBeNull();
    expect(result.costPerAnswerUsd).toBeNull();
    expect(result.energyJoulesPerToken).toBeGreaterThan(0);
  });
});
