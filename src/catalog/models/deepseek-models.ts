import type { ModelSpec } from './model-spec.js';

const hf = (repo: string): string => `https://huggingface.co/${repo}/blob/main/config.json`;

/** DeepSeek-V3 and R1 share one architecture: 61 layers, MLA, 256 routed + 1 shared expert, 8 active. */
const deepSeekV3Architecture = {
  layers: 61,
  hiddenSize: 7168,
  attentionHeads: 128,
  kvHeads: 128,
  headDim: 192,
  ffnSize: 18432,
  vocabSize: 129280,
  tiedEmbeddings: false,
  contextLength: 163840,
  nativeDtype: 'fp8',
  moe: { routedExperts: 256, sharedExperts: 1, expertsPerToken: 8, expertFfnSize: 2048, denseLayers: 3 },
  mla: { kvLoraRank: 512, qLoraRank: 1536, ropeHeadDim: 64, nopeHeadDim: 128, vHeadDim: 128 },
  publishedParamsB: 671,
} as const satisfies Omit<ModelSpec, 'id' | 'name' | 'source'>;

/** A Qwen2 dense model (the R1 distills keep their base model's architecture). */
function qwen2(
  layers: number,
  hiddenSize: number,
  attentionHeads: number,
  kvHeads: number,
  ffnSize: number,
  extra: { vocabSize?: number; tiedEmbeddings?: boolean; contextLength?: number; publishedParamsB: number },
) {
  return {
    layers,
    hiddenSize,
    attentionHeads,
    kvHeads,
    headDim: hiddenSize / attentionHeads,
    ffnSize,
    vocabSize: extra.vocabSize ?? 152064,
    tiedEmbeddings: extra.tiedEmbeddings ?? false,
    contextLength: extra.contextLength ?? 131072,
    nativeDtype: 'bf16' as const,
    publishedParamsB: extra.publishedParamsB,
  };
}

/** Llama 3 8B / 70B shapes (the Llama distills and Llama 3.1/3.3). */
export const llama3x8b = {
  layers: 32,
  hiddenSize: 4096,
  attentionHeads: 32,
  kvHeads: 8,
  headDim: 128,
  ffnSize: 14336,
  vocabSize: 128256,
  tiedEmbeddings: false,
  contextLength: 131072,
  nativeDtype: 'bf16',
  publishedParamsB: 8.03,
} as const satisfies Omit<ModelSpec, 'id' | 'name' | 'source'>;

export const llama3x70b = {
  ...llama3x8b,
  layers: 80,
  hiddenSize: 8192,
  attentionHeads: 64,
  ffnSize: 28672,
  publishedParamsB: 70.6,
} as const satisfies Omit<ModelSpec, 'id' | 'name' | 'source'>;

export { qwen2 };

/** The DeepSeek family: V3/R1 (671B MoE) and the six R1 distills. */
export const deepSeekModels: ModelSpec[] = [
  {
    id: 'deepseek-v3',
    name: 'DeepSeek-V3',
    ...deepSeekV3Architecture,
    source: hf('deepseek-ai/DeepSeek-V3'),
  },
  {
    id: 'deepseek-r1',
    name: 'DeepSeek-R1',
    ...deepSeekV3Architecture,
    source: hf('deepseek-ai/DeepSeek-R1'),
  },
  {
    id: 'deepseek-r1-distill-qwen-1.5b',
    name: 'DeepSeek-R1-Distill-Qwen-1.5B',
    ...qwen2(28, 1536, 12, 2, 8960, { vocabSize: 151936, publishedParamsB: 1.78 }),
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B'),
  },
  {
    id: 'deepseek-r1-distill-qwen-7b',
    name: 'DeepSeek-R1-Distill-Qwen-7B',
    ...qwen2(28, 3584, 28, 4, 18944, { publishedParamsB: 7.62 }),
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Qwen-7B'),
  },
  {
    id: 'deepseek-r1-distill-qwen-14b',
    name: 'DeepSeek-R1-Distill-Qwen-14B',
    ...qwen2(48, 5120, 40, 8, 13824, { publishedParamsB: 14.8 }),
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Qwen-14B'),
  },
  {
    id: 'deepseek-r1-distill-qwen-32b',
    name: 'DeepSeek-R1-Distill-Qwen-32B',
    ...qwen2(64, 5120, 40, 8, 27648, { publishedParamsB: 32.8 }),
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Qwen-32B'),
  },
  {
    id: 'deepseek-r1-distill-llama-8b',
    name: 'DeepSeek-R1-Distill-Llama-8B',
    ...llama3x8b,
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Llama-8B'),
  },
  {
    id: 'deepseek-r1-distill-llama-70b',
    name: 'DeepSeek-R1-Distill-Llama-70B',
    ...llama3x70b,
    source: hf('deepseek-ai/DeepSeek-R1-Distill-Llama-70B'),
  },
];
