import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** Mixture-of-experts layers: routed and shared experts, how many are active per token, and their FFN width. */
export const moeSpecSchema = z.strictObject({
  routedExperts: positiveInt,
  sharedExperts: z.number().int().nonnegative(),
  expertsPerToken: positiveInt,
  expertFfnSize: positiveInt,
  /** The first `denseLayers` layers use a dense FFN of `ffnSize` instead of experts. */
  denseLayers: z.number().int().nonnegative(),
});

/** Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds a compressed latent plus a RoPE key. */
export const mlaSpecSchema = z.strictObject({
  kvLoraRank: positiveInt,
  /** null when queries are not compressed. */
  qLoraRank: positiveInt.nullable(),
  ropeHeadDim: positiveInt,
  nopeHeadDim: positiveInt,
  vHeadDim: positiveInt,
});

export const modelDtypes = ['f32', 'bf16', 'f16', 'fp8'] as const;

/** A model's architecture: everything the memory and speed estimates need. */
export const modelSpecSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  layers: positiveInt,
  hiddenSize: positiveInt,
  attentionHeads: positiveInt,
  kvHeads: positiveInt,
  headDim: positiveInt,
  /** Dense FFN width (for MoE models: the width of the dense layers). */
  ffnSize: positiveInt,
  vocabSize: positiveInt,
  tiedEmbeddings: z.boolean(),
  contextLength: positiveInt,
  nativeDtype: z.enum(modelDtypes),
  moe: moeSpecSchema.optional(),
  mla: mlaSpecSchema.optional(),
  /** Parameters as published, for a cross-check of the architecture (billions). */
  publishedParamsB: z.number().positive().optional(),
  /** Where the numbers come from (a config.json URL, a GGUF file, a paper). */
  source: z.string().min(1),
});

export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type MoeSpec = z.infer<typeof moeSpecSchema>;
export type MlaSpec = z.infer<typeof mlaSpecSchema>;
