import { z } from 'zod';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { modelSpecSchema, type ModelSpec } from './model-spec.js';

const count = z.number().int().positive();

/**
 * The fields of a Hugging Face `config.json` the planner reads. Upstream files carry many more keys, so
 * unknown keys are allowed (lenient), but every field read is type-checked.
 */
export const hfConfigSchema = z.looseObject({
  architectures: z.array(z.string()).optional(),
  model_type: z.string().optional(),
  hidden_size: count,
  num_hidden_layers: count,
  num_attention_heads: count,
  num_key_value_heads: count.optional(),
  head_dim: count.nullish(),
  intermediate_size: count,
  vocab_size: count,
  tie_word_embeddings: z.boolean().optional(),
  max_position_embeddings: count.optional(),
  torch_dtype: z.string().optional(),
  dtype: z.string().optional(),
  // Mixture of experts (DeepSeek: n_routed_experts; Qwen/Mixtral: num_experts / num_local_experts).
  n_routed_experts: count.nullish(),
  num_experts: count.nullish(),
  num_local_experts: count.nullish(),
  n_shared_experts: z.number().int().nonnegative().nullish(),
  num_experts_per_tok: count.nullish(),
  moe_intermediate_size: count.nullish(),
  first_k_dense_replace: z.number().int().nonnegative().nullish(),
  // Multi-head latent attention.
  kv_lora_rank: count.nullish(),
  q_lora_rank: count.nullish(),
  qk_rope_head_dim: count.nullish(),
  qk_nope_head_dim: count.nullish(),
  v_head_dim: count.nullish(),
  quantization_config: z.looseObject({ quant_method: z.string().optional() }).optional(),
});

function nativeDtype(config: z.infer<typeof hfConfigSchema>): ModelSpec['nativeDtype'] {
  if (config.quantization_config?.quant_method === 'fp8') return 'fp8';
  const dtype = (config.torch_dtype ?? config.dtype ?? 'bfloat16').toLowerCase();
  if (dtype.includes('float16') && !dtype.includes('bfloat')) return 'f16';
  if (dtype.includes('float32')) return 'f32';
  return 'bf16';
}

/**
 * Turns a parsed Hugging Face config.json into a model spec. Malformed input throws invalid_argument with
 * the offending fields named; `id` names the model in output (usually the file's directory name).
 */
export function modelFromHfConfig(json: unknown, id: string, source: string): ModelSpec {
  const parsed = hfConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new EdgeFleetError('invalid_argument', `invalid config.json (${source}): ${problems.join('; ')}`, {
      param: 'model-config',
      data: { problems },
    });
  }
  const config = parsed.data;
  const heads = config.num_attention_heads;
  const routedExperts =
    config.n_routed_experts ?? config.num_experts ?? config.num_local_experts ?? undefined;
  const moe =
    routedExperts !== undefined && routedExperts > 1
      ? {
          routedExperts,
          sharedExperts: config.n_shared_experts ?? 0,
          expertsPerToken: config.num_experts_per_tok ?? 2,
          expertFfnSize: config.moe_intermediate_size ?? config.intermediate_size,
          denseLayers: config.first_k_dense_replace ?? 0,
        }
      : undefined;
  const mla =
    config.kv_lora_rank != null && config.qk_rope_head_dim != null
      ? {
          kvLoraRank: config.kv_lora_rank,
          qLoraRank: config.q_lora_rank ?? null,
          ropeHeadDim: config.qk_rope_head_dim,
          nopeHeadDim: config.qk_nope_head_dim ?? 128,
          vHeadDim: config.v_head_dim ?? 128,
        }
      : undefined;
  const headDim = mla
    ? mla.nopeHeadDim + mla.ropeHeadDim
    : (config.head_dim ?? Math.floor(config.hidden_size / heads));
  return modelSpecSchema.parse({
    id,
    name: config.architectures?.[0] ?? config.model_type ?? id,
    layers: config.num_hidden_layers,
    hiddenSize: config.hidden_size,
    attentionHeads: heads,
    kvHeads: mla ? heads : (config.num_key_value_heads ?? heads),
    headDim,
    ffnSize: config.intermediate_size,
    vocabSize: config.vocab_size,
    tiedEmbeddings: config.tie_word_embeddings ?? false,
    contextLength: config.max_position_embeddings ?? 4096,
    nativeDtype: nativeDtype(config),
    ...(moe ? { moe } : {}),
    ...(mla ? { mla } : {}),
    source,
  });
}
