import { describe, expect, test } from 'vitest';
import { engineCatalog, findEngine } from '../../src/catalog/engines/engine-catalog.js';
import { hardwareCatalog, findHardware } from '../../src/catalog/hardware/hardware-catalog.js';
import { hardwareFromInput, hardwareSpecInputSchema } from '../../src/catalog/hardware/hardware-spec.js';
import { findModel, modelCatalog } from '../../src/catalog/models/model-catalog.js';
import {
  findQuantization,
  quantizationCatalog,
} from '../../src/catalog/quantizations/quantization-catalog.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';
import { modelParameters } from '../../src/planner/model-parameters.js';
import { modelFromHfConfig } from '../../src/catalog/models/hf-config-model.js';
import { estimateMemory } from '../../src/planner/estimate-memory.js';
import { inputFromIds } from '../../src/planner/estimate-input.js';

const ids = <T extends { id: string }>(entries: readonly T[]) => entries.map((entry) => entry.id);

describe('catalogs hold exactly the ids the issue lists (and no duplicates)', () => {
  test('models', () => {
    expect(ids(modelCatalog).sort()).toEqual(
      [
        'deepseek-v3',
        'deepseek-r1',
        'deepseek-r1-distill-qwen-1.5b',
        'deepseek-r1-distill-qwen-7b',
        'deepseek-r1-distill-qwen-14b',
        'deepseek-r1-distill-qwen-32b',
        'deepseek-r1-distill-llama-8b',
        'deepseek-r1-distill-llama-70b',
        'qwen2.5-7b',
        'qwen2.5-14b',
        'qwen2.5-32b',
        'qwen2.5-72b',
        'qwen3-8b',
        'llama-3.1-8b',
        'llama-3.2-3b',
        'llama-3.3-70b',
        'llama-2-7b',
        'llama-2-70b',
        'mistral-7b',
      ].sort(),
    );
  });
  test('hardware', () => {
    expect(ids(hardwareCatalog).sort()).toEqual(
      [
        'rtx-3090',
        'rtx-4090',
        'rtx-5090',
        'l20',
        'l40s',
        'a100-40gb',
        'a100-80gb',
        'a800-80gb',
        'h100-sxm',
        'h100-pcie',
        'h800',
        'h20',
        'h200',
        'mi300x',
        'ascend-910b',
        'ascend-310p',
        'hygon-k100',
        'apple-m2-ultra',
        'apple-m3-max',
        'apple-m3-ultra',
        'xeon-gold-6454s',
        'epyc-9654',
        'hi3861',
      ].sort(),
    );
    expect(findHardware('hi3861').memoryBytes).toBe(352 * 1024);
  });
  test('engines and quantizations', () => {
    expect(ids(engineCatalog).sort()).toEqual(
      [
        'llama.cpp',
        'ollama',
        'vllm',
        'sglang',
        'trtllm',
        'mindie',
        'vllm-ascend',
        'ktransformers',
        'mlx',
      ].sort(),
    );
    expect(ids(quantizationCatalog).sort()).toEqual(
      [
        'bf16',
        'f16',
        'fp8',
        'w8a8',
        'awq-int4',
        'gptq-int4',
        'q8_0',
        'q6_k',
        'q5_k_m',
        'q4_k_m',
        'q4_0',
        'iq1_s',
        'mlx-4bit',
      ].sort(),
    );
  });
  test('every entry names its source and ids are unique', () => {
    const catalogs: (readonly { id: string; source: string }[])[] = [
      modelCatalog,
      hardwareCatalog,
      engineCatalog,
      quantizationCatalog,
    ];
    for (const catalog of catalogs) {
      expect(new Set(ids(catalog)).size).toBe(catalog.length);
      for (const entry of catalog) expect(entry.source.length).toBeGreaterThan(10);
    }
  });
});

describe('catalog consistency', () => {
  test('engines reference existing quantizations and hardware kinds/vendors that exist', () => {
    const quantIds = new Set(ids(quantizationCatalog));
    for (const engine of engineCatalog) {
      for (const quant of engine.quantizations)
        expect(quantIds.has(quant), `${engine.id} → ${quant}`).toBe(true);
      const runnable = hardwareCatalog.filter(
        (hw) => engine.hardwareKinds.includes(hw.kind) && engine.vendors.includes(hw.vendor),
      );
      expect(runnable.length, `${engine.id} runs on some catalog device`).toBeGreaterThan(0);
    }
  });
  test('every model family is counted close to its published size', () => {
    for (const model of modelCatalog) {
      const billions = modelParameters(model).totalParams / 1e9;
      expect(Math.abs(billions - model.publishedParamsB!) / model.publishedParamsB!, model.id).toBeLessThan(
        0.03,
      );
    }
  });
  test('MoE and MLA fields are consistent', () => {
    for (const model of modelCatalog) {
      if (model.moe) {
        expect(model.moe.expertsPerToken).toBeLessThanOrEqual(model.moe.routedExperts);
        expect(model.moe.denseLayers).toBeLessThan(model.layers);
        const active = modelParameters(model).activeParams / 1e9;
        expect(active).toBeGreaterThan(35);
        expect(active).toBeLessThan(40);
      }
      if (model.mla) expect(model.headDim).toBe(model.mla.nopeHeadDim + model.mla.ropeHeadDim);
      else expect(model.attentionHeads % model.kvHeads).toBe(0);
    }
  });
  test('quantized formats are never below their nominal bits (Q4_K_M is not 4.0)', () => {
    expect(findQuantization('q4_k_m').bitsPerWeight).toBeGreaterThan(4.5);
    expect(findQuantization('q8_0').bitsPerWeight).toBe(8.5);
    for (const quant of quantizationCatalog)
      expect(quant.embeddingBitsPerWeight).toBeGreaterThanOrEqual(quant.bitsPerWeight);
  });
  test('devices with FP8 peaks list FP8 as native and the other way round', () => {
    for (const hw of hardwareCatalog) expect(hw.fp8Flops !== null).toBe(hw.nativeDtypes.includes('fp8'));
  });
});

describe('unknown ids and bad hardware specs', () => {
  test.each([
    ['model', () => findModel('deepseek-r2'), 'deepseek-r1-distill-qwen-1.5b'],
    ['hardware', () => findHardware('h300'), 'h200'],
    ['engine', () => findEngine('tgi'), 'vllm'],
    ['quantization', () => findQuantization('q3_k'), 'q4_k_m'],
  ])('unknown %s lists the valid ids', (_what, find, valid) => {
    expect(find).toThrow(EdgeFleetError);
    expect(find).toThrow(new RegExp(`valid ids: .*${valid.replace('.', '\\.')}`));
  });
  test('ids match case-insensitively', () => {
    expect(findModel('DeepSeek-R1').id).toBe('deepseek-r1');
  });
  test('a --hardware-spec object is validated strictly and becomes a custom device', () => {
    const spec = hardwareFromInput(
      hardwareSpecInputSchema.parse({
        name: 'My NPU 2000',
        kind: 'npu',
        memoryBytes: 32e9,
        memoryBandwidthBytesPerSecond: 1e12,
        fp16Flops: 200e12,
        int8Ops: 400e12,
        fp8Flops: 400e12,
      }),
    );
    expect(spec).toMatchObject({ id: 'my-npu-2000', vendor: 'custom', kind: 'npu' });
    expect(spec.nativeDtypes).toContain('fp8');
    expect(hardwareSpecInputSchema.safeParse({ name: 'x', kind: 'tpu' }).success).toBe(false);
    expect(
      hardwareSpecInputSchema.safeParse({
        name: 'x',
        kind: 'gpu',
        memoryBytes: 1,
        memoryBandwidthBytesPerSecond: 1,
        fp16Flops: 1,
        int8Ops: 1,
        extra: 1,
      }).success,
    ).toBe(false);
  });
});

describe('model inputs from files', () => {
  test('a DeepSeek-V3 config.json (MoE + MLA) gives the catalog architecture', () => {
    const config = {
      architectures: ['DeepseekV3ForCausalLM'],
      model_type: 'deepseek_v3',
      hidden_size: 7168,
      intermediate_size: 18432,
      moe_intermediate_size: 2048,
      num_hidden_layers: 61,
      num_attention_heads: 128,
      num_key_value_heads: 128,
      n_routed_experts: 256,
      n_shared_experts: 1,
      num_experts_per_tok: 8,
      first_k_dense_replace: 3,
      kv_lora_rank: 512,
      q_lora_rank: 1536,
      qk_rope_head_dim: 64,
      qk_nope_head_dim: 128,
      v_head_dim: 128,
      vocab_size: 129280,
      max_position_embeddings: 163840,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] },
    };
    const model = modelFromHfConfig(config, 'my-v3', 'config.json');
    const catalog = findModel('deepseek-v3');
    expect(model).toMatchObject({ nativeDtype: 'fp8', moe: catalog.moe, mla: catalog.mla, headDim: 192 });
    expect(modelParameters(model).totalParams).toBe(modelParameters(catalog).totalParams);
  });
});

describe('engine memory layouts', () => {
  test('vLLM plans within 0.9 of device memory, SGLang 0.88, llama.cpp 0.97, Apple ¾ of unified memory', () => {
    const usable = (engine: string, hardware: string, quant = 'bf16') =>
      estimateMemory(inputFromIds({ model: 'llama-3.1-8b', quant, engine, hardware })).usablePerDeviceBytes /
      findHardware(hardware).memoryBytes;
    expect(usable('vllm', 'h100-sxm')).toBeCloseTo(0.9, 6);
    expect(usable('sglang', 'h100-sxm')).toBeCloseTo(0.88, 6);
    expect(usable('llama.cpp', 'h100-sxm', 'q4_k_m')).toBeCloseTo(0.97, 6);
    expect(usable('llama.cpp', 'apple-m3-max', 'q4_k_m')).toBeCloseTo(0.75, 6);
  });
});
