import { z } from 'zod';
import { hardwareKinds, hardwareVendors } from '../hardware/hardware-spec.js';
import { assertUniqueIds, findById } from '../lookup/find-by-id.js';

/** How an engine lays out the KV cache. */
export const kvCacheLayoutSchema = z.strictObject({
  /** MLA models: `latent` caches kv_lora_rank + rope dims per token and layer; `expanded` caches full K and V. */
  mla: z.enum(['latent', 'expanded']),
  /** Grouped-query KV under tensor parallelism: each rank keeps its share of heads (at least one head). MLA's
   * latent cannot be split by heads, so every rank keeps a full copy. */
  tensorParallel: z.enum(['split-heads', 'none']),
  /** Context rounded up to a multiple of this many tokens (llama.cpp pads to 256; vLLM pages of 16). */
  paddingTokens: z.number().int().positive(),
  /** Bytes per cached element by default (f16/bf16 = 2). */
  bytesPerElement: z.number().positive(),
});

/** How an engine allocates memory beyond weights and KV. */
export const engineMemorySchema = z.strictObject({
  /** vLLM/SGLang/TensorRT-LLM reserve a fixed fraction of device memory up front; null: allocate as needed. */
  preallocateFraction: z.number().gt(0).lte(1).nullable(),
  /** Per accelerator: CUDA/ROCm/CANN context, kernels, graphs, communication buffers. 0 on CPUs. */
  runtimeOverheadBytes: z.number().nonnegative(),
  /** `llama.cpp`: the ggml graph's compute buffer (logits or attention scores, whichever peaks);
   * `activations`: an activation workspace for the largest prefill chunk. */
  computeModel: z.enum(['llama.cpp', 'activations']),
});

export const engineSpecSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  hardwareKinds: z.array(z.enum(hardwareKinds)).min(1),
  vendors: z.array(z.enum(hardwareVendors)).min(1),
  quantizations: z.array(z.string()).min(1),
  kvCache: kvCacheLayoutSchema,
  memory: engineMemorySchema,
  /** `tensor`: every layer split over devices, bandwidth adds up, two all-reduces per layer. `layer`: each
   * device holds a range of layers; one token still visits them in turn, so bandwidth does not add up. */
  multiDeviceSplit: z.enum(['tensor', 'layer']),
  /** MoE experts kept in host memory and run on the CPU (KTransformers, llama.cpp `-ot exps=CPU`). */
  expertOffload: z.boolean(),
  /** Continuous batching of many streams (false: requests run one after the other). */
  continuousBatching: z.boolean(),
  source: z.string().min(1),
});

export type EngineSpec = z.infer<typeof engineSpecSchema>;

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const ggufQuants = ['f16', 'bf16', 'q8_0', 'q6_k', 'q5_k_m', 'q4_k_m', 'q4_0', 'iq1_s'];
const servingQuants = ['bf16', 'f16', 'fp8', 'w8a8', 'awq-int4', 'gptq-int4'];
const llamaCppKv = { mla: 'latent', tensorParallel: 'none', paddingTokens: 256, bytesPerElement: 2 } as const;
const pagedKv = {
  mla: 'latent',
  tensorParallel: 'split-heads',
  paddingTokens: 16,
  bytesPerElement: 2,
} as const;

const engines: EngineSpec[] = [
  {
    id: 'llama.cpp',
    name: 'llama.cpp (llama-server, embedded node-llama-cpp)',
    hardwareKinds: ['gpu', 'npu', 'cpu', 'apple'],
    vendors: ['nvidia', 'amd', 'apple', 'intel', 'huawei', 'hygon', 'hisilicon'],
    quantizations: ggufQuants,
    kvCache: llamaCppKv,
    memory: { preallocateFraction: null, runtimeOverheadBytes: 300 * MiB, computeModel: 'llama.cpp' },
    multiDeviceSplit: 'layer',
    expertOffload: true,
    continuousBatching: true,
    source:
      'llama.cpp src/llama-context.cpp, llama-kv-cache.cpp (n_ctx padded to 256, MLA latent cache since PR #12801, -sm layer default, -ot); compute buffer measured here via node-llama-cpp',
  },
  {
    id: 'ollama',
    name: 'Ollama',
    hardwareKinds: ['gpu', 'cpu', 'apple'],
    vendors: ['nvidia', 'amd', 'apple', 'intel'],
    quantizations: ggufQuants,
    kvCache: llamaCppKv,
    memory: { preallocateFraction: null, runtimeOverheadBytes: 400 * MiB, computeModel: 'llama.cpp' },
    multiDeviceSplit: 'layer',
    expertOffload: false,
    continuousBatching: true,
    source:
      'ollama llm/memory.go (layer split over GPUs, llama.cpp graph estimate); MLA layout assumed to follow llama.cpp',
  },
  {
    id: 'vllm',
    name: 'vLLM',
    hardwareKinds: ['gpu'],
    vendors: ['nvidia', 'amd', 'hygon'],
    quantizations: servingQuants,
    kvCache: pagedKv,
    memory: { preallocateFraction: 0.9, runtimeOverheadBytes: 1.5 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'tensor',
    expertOffload: false,
    continuousBatching: true,
    source:
      'vLLM docs: gpu_memory_utilization default 0.9, PagedAttention block 16, MLA latent cache replicated per TP rank, TP shards KV heads',
  },
  {
    id: 'sglang',
    name: 'SGLang',
    hardwareKinds: ['gpu'],
    vendors: ['nvidia', 'amd'],
    quantizations: servingQuants,
    kvCache: { ...pagedKv, paddingTokens: 1 },
    memory: { preallocateFraction: 0.88, runtimeOverheadBytes: 1.5 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'tensor',
    expertOffload: false,
    continuousBatching: true,
    source:
      'SGLang server args: mem_fraction_static ≈ 0.88 on large GPUs, token-granular RadixAttention pool, MLA replicated per TP rank',
  },
  {
    id: 'trtllm',
    name: 'TensorRT-LLM',
    hardwareKinds: ['gpu'],
    vendors: ['nvidia'],
    quantizations: servingQuants,
    kvCache: { ...pagedKv, paddingTokens: 32 },
    memory: { preallocateFraction: 0.9, runtimeOverheadBytes: 1.5 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'tensor',
    expertOffload: false,
    continuousBatching: true,
    source:
      'TensorRT-LLM docs: KvCacheConfig free_gpu_memory_fraction 0.9 of memory left after weights, tokens_per_block 32',
  },
  {
    id: 'mindie',
    name: 'MindIE (Huawei)',
    hardwareKinds: ['npu'],
    vendors: ['huawei'],
    quantizations: ['bf16', 'f16', 'w8a8'],
    kvCache: { ...pagedKv, paddingTokens: 128 },
    memory: { preallocateFraction: 0.9, runtimeOverheadBytes: 2 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'tensor',
    expertOffload: false,
    continuousBatching: true,
    source:
      'MindIE Service docs (npuMemSize, cacheBlockSize 128, W8A8 on Atlas 800I A2); GPUStack performance lab',
  },
  {
    id: 'vllm-ascend',
    name: 'vLLM Ascend',
    hardwareKinds: ['npu'],
    vendors: ['huawei'],
    quantizations: ['bf16', 'f16', 'w8a8'],
    kvCache: { ...pagedKv, paddingTokens: 128 },
    memory: { preallocateFraction: 0.9, runtimeOverheadBytes: 2 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'tensor',
    expertOffload: false,
    continuousBatching: true,
    source: 'vllm-project/vllm-ascend docs (gpu_memory_utilization 0.9, block size 128 on Ascend)',
  },
  {
    id: 'ktransformers',
    name: 'KTransformers',
    hardwareKinds: ['gpu', 'cpu'],
    vendors: ['nvidia', 'intel', 'amd'],
    quantizations: ['q4_k_m', 'q5_k_m', 'q6_k', 'q8_0', 'iq1_s', 'bf16', 'fp8'],
    kvCache: { ...llamaCppKv, paddingTokens: 1 },
    memory: { preallocateFraction: null, runtimeOverheadBytes: 1 * GiB, computeModel: 'activations' },
    multiDeviceSplit: 'layer',
    expertOffload: true,
    continuousBatching: false,
    source:
      'kvcache-ai/ktransformers doc/en/DeepseekR1_V3_tutorial.md: routed experts on CPU (AMX), MLA/attention and shared parts on one GPU; 382 GB DRAM + 14 GB VRAM for V3 Q4_K_M',
  },
  {
    id: 'mlx',
    name: 'MLX (mlx-lm)',
    hardwareKinds: ['apple'],
    vendors: ['apple'],
    quantizations: ['mlx-4bit', 'bf16', 'f16'],
    kvCache: { mla: 'expanded', tensorParallel: 'none', paddingTokens: 256, bytesPerElement: 2 },
    memory: { preallocateFraction: null, runtimeOverheadBytes: 200 * MiB, computeModel: 'activations' },
    multiDeviceSplit: 'layer',
    expertOffload: false,
    continuousBatching: false,
    source:
      'ml-explore/mlx-lm (KV cache grown in 256-token steps; mlx.distributed pipeline over several Macs)',
  },
];

/** Every built-in engine, validated once and frozen. */
export const engineCatalog: readonly EngineSpec[] = Object.freeze(
  engines.map((engine) => Object.freeze(engineSpecSchema.parse(engine))),
);
assertUniqueIds(engineCatalog, 'engine');

/**
 * Engines a deployment may name that run like a catalog engine: `llama-server` is llama.cpp's own server (the
 * worker runs it as an external process instead of the embedded engine), so it plans exactly as `llama.cpp`.
 * Not listed in `engineCatalog`, so recommendations and fleet plans do not show it twice.
 */
const engineAliases: Readonly<Record<string, string>> = { 'llama-server': 'llama.cpp' };

/** The engine with this id (or alias, under its own id); an unknown id throws an error that lists the valid ids. */
export function findEngine(id: string): EngineSpec {
  const wanted = id.trim().toLowerCase();
  const target = engineAliases[wanted];
  if (target !== undefined)
    return Object.freeze({ ...findById(engineCatalog, target, 'engine'), id: wanted });
  return findById(engineCatalog, id, 'engine');
}
