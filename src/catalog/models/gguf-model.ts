import { basename } from 'node:path';
import { ggufArchitecture } from '../gguf/gguf-architecture.js';
import type { GgufHeader } from '../gguf/gguf-header-parser.js';
import type { GgufValue } from '../gguf/gguf-types.js';
import { readGgufHeader } from '../gguf/read-gguf-header.js';
import { modelSpecSchema, type ModelSpec } from './model-spec.js';

/** A model read from a GGUF header: its architecture plus the exact bytes of its tensors. */
export interface GgufModel {
  model: ModelSpec;
  /** Sum of the tensors' data bytes: what llama.cpp maps as the model buffer. */
  weightsBytes: number;
  parameterCount: number;
  /** A catalog quantization id matching general.file_type, when there is one. */
  quantizationId: string | undefined;
  /** general.file_type's name (e.g. ALL_F32), when the header has one. */
  fileTypeName: string | undefined;
}

const quantByFileType: Readonly<Record<number, string>> = {
  1: 'f16',
  2: 'q4_0',
  7: 'q8_0',
  15: 'q4_k_m',
  17: 'q5_k_m',
  18: 'q6_k',
  24: 'iq1_s',
  32: 'bf16',
};

function numberOf(value: GgufValue | undefined): number | undefined {
  if (value === undefined || value.type === 'array') return undefined;
  return typeof value.value === 'number' || typeof value.value === 'bigint' ? Number(value.value) : undefined;
}

/** The planner's model spec from a parsed GGUF header (llama-style keys, plus deepseek2's MLA and MoE keys). */
export function modelFromGgufHeader(header: GgufHeader, id: string, source: string): GgufModel {
  const arch = ggufArchitecture(header);
  const key = (name: string): number | undefined =>
    numberOf(header.metadata.get(`${arch.architecture}.${name}`));
  const kvLoraRank = key('attention.kv_lora_rank');
  const ropeHeadDim = key('rope.dimension_count');
  const mla =
    kvLoraRank !== undefined && ropeHeadDim !== undefined
      ? {
          kvLoraRank,
          qLoraRank: key('attention.q_lora_rank') ?? null,
          ropeHeadDim,
          nopeHeadDim: Math.max(1, arch.keyLength - ropeHeadDim),
          vHeadDim: arch.valueLength,
        }
      : undefined;
  const expertFfnSize = key('expert_feed_forward_length');
  const moe =
    arch.expertCount !== undefined && arch.expertCount > 1
      ? {
          routedExperts: arch.expertCount,
          sharedExperts: key('expert_shared_count') ?? 0,
          expertsPerToken: arch.expertUsedCount ?? 2,
          expertFfnSize: expertFfnSize ?? arch.feedForwardLength ?? 4 * arch.embeddingLength,
          denseLayers: key('leading_dense_block_count') ?? 0,
        }
      : undefined;
  const hasOutput = header.tensors.some((tensor) => tensor.name === 'output.weight');
  const model = modelSpecSchema.parse({
    id,
    name: arch.name ?? id,
    layers: arch.blockCount,
    hiddenSize: arch.embeddingLength,
    attentionHeads: arch.headCount,
    kvHeads: arch.headCountKv,
    headDim: arch.keyLength,
    ffnSize: arch.feedForwardLength ?? 4 * arch.embeddingLength,
    vocabSize: arch.vocabSize ?? 32000,
    tiedEmbeddings: !hasOutput,
    contextLength: arch.contextLength,
    nativeDtype: 'bf16',
    ...(moe ? { moe } : {}),
    ...(mla ? { mla } : {}),
    publishedParamsB: arch.parameterCount / 1e9,
    source,
  });
  return {
    model,
    weightsBytes: arch.tensorBytes,
    parameterCount: arch.parameterCount,
    quantizationId: arch.fileType === undefined ? undefined : quantByFileType[arch.fileType],
    fileTypeName: arch.fileTypeName,
  };
}

/** Reads only the header of a GGUF file (never the weights) and returns its model spec. */
export async function readGgufModel(path: string): Promise<GgufModel> {
  const header = await readGgufHeader(path);
  return modelFromGgufHeader(header, basename(path).replace(/\.gguf$/i, ''), `GGUF header of ${path}`);
}
