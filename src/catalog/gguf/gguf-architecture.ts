import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { GgufHeader } from './gguf-header-parser.js';
import type { GgufValue } from './gguf-types.js';

/** The model facts a planner or engine needs, read from `<arch>.*`, `general.*` and the tensor infos. */
export interface GgufArchitecture {
  /** general.architecture: llama, qwen2, deepseek2, … */
  architecture: string;
  name?: string;
  blockCount: number;
  embeddingLength: number;
  feedForwardLength?: number;
  /** Attention heads; when the file lists one per layer, the largest. */
  headCount: number;
  /** Key/value heads (defaults to headCount, as llama.cpp does). */
  headCountKv: number;
  /** Per-head key and value sizes (default embeddingLength / headCount). */
  keyLength: number;
  valueLength: number;
  contextLength: number;
  vocabSize?: number;
  expertCount?: number;
  expertUsedCount?: number;
  chatTemplate?: string;
  /** general.file_type (llama_ftype) and its name, e.g. 7 → MOSTLY_Q8_0. */
  fileType?: number;
  fileTypeName?: string;
  /** Sum of every tensor's elements. */
  parameterCount: number;
  /** Bytes of tensor data (the weights llama.cpp maps). */
  tensorBytes: number;
  /** How many tensors each ggml type has, e.g. { F32: 5, Q8_0: 14 }. */
  tensorTypes: Record<string, number>;
}

const fileTypeNames: Readonly<Record<number, string>> = {
  0: 'ALL_F32',
  1: 'MOSTLY_F16',
  2: 'MOSTLY_Q4_0',
  3: 'MOSTLY_Q4_1',
  7: 'MOSTLY_Q8_0',
  8: 'MOSTLY_Q5_0',
  9: 'MOSTLY_Q5_1',
  10: 'MOSTLY_Q2_K',
  11: 'MOSTLY_Q3_K_S',
  12: 'MOSTLY_Q3_K_M',
  13: 'MOSTLY_Q3_K_L',
  14: 'MOSTLY_Q4_K_S',
  15: 'MOSTLY_Q4_K_M',
  16: 'MOSTLY_Q5_K_S',
  17: 'MOSTLY_Q5_K_M',
  18: 'MOSTLY_Q6_K',
  19: 'MOSTLY_IQ2_XXS',
  20: 'MOSTLY_IQ2_XS',
  21: 'MOSTLY_Q2_K_S',
  22: 'MOSTLY_IQ3_XS',
  23: 'MOSTLY_IQ3_XXS',
  24: 'MOSTLY_IQ1_S',
  25: 'MOSTLY_IQ4_NL',
  26: 'MOSTLY_IQ3_S',
  27: 'MOSTLY_IQ3_M',
  28: 'MOSTLY_IQ2_S',
  29: 'MOSTLY_IQ2_M',
  30: 'MOSTLY_IQ4_XS',
  31: 'MOSTLY_IQ1_M',
  32: 'MOSTLY_BF16',
  36: 'MOSTLY_TQ1_0',
  37: 'MOSTLY_TQ2_0',
  38: 'MOSTLY_MXFP4_MOE',
  39: 'MOSTLY_NVFP4',
  40: 'MOSTLY_Q1_0',
  41: 'MOSTLY_Q2_0',
};

/** A metadata value as a plain number: integers of any width, or the largest item of an integer array. */
function numberOf(value: GgufValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.type === 'array') {
    let largest: number | undefined;
    for (const item of value.value) {
      if (typeof item === 'number' || typeof item === 'bigint')
        largest = Math.max(largest ?? -Infinity, Number(item));
    }
    return largest;
  }
  return typeof value.value === 'number' || typeof value.value === 'bigint' ? Number(value.value) : undefined;
}

function stringOf(value: GgufValue | undefined): string | undefined {
  return value?.type === 'string' ? value.value : undefined;
}

/**
 * Reads the llama-style architecture fields of any GGUF model (`<arch>.block_count`, head counts, context
 * length, …) plus its chat template, file type and tensor totals. Throws invalid_model_file when a field
 * every transformer needs is missing.
 */
export function ggufArchitecture(header: GgufHeader): GgufArchitecture {
  const meta = header.metadata;
  const architecture = stringOf(meta.get('general.architecture'));
  if (architecture === undefined)
    throw new EdgeFleetError('invalid_model_file', 'GGUF has no general.architecture');
  const arch = (key: string): number | undefined => numberOf(meta.get(`${architecture}.${key}`));
  const required = (key: string): number => {
    const value = arch(key);
    if (value === undefined)
      throw new EdgeFleetError('invalid_model_file', `GGUF has no ${architecture}.${key}`);
    return value;
  };
  const embeddingLength = required('embedding_length');
  const headCount = required('attention.head_count');
  const headSize = headCount > 0 ? Math.floor(embeddingLength / headCount) : 0;
  const tokens = meta.get('tokenizer.ggml.tokens');
  const fileType = numberOf(meta.get('general.file_type'));

  const tensorTypes: Record<string, number> = {};
  let parameterCount = 0;
  let tensorBytes = 0;
  for (const tensor of header.tensors) {
    tensorTypes[tensor.type.name] = (tensorTypes[tensor.type.name] ?? 0) + 1;
    parameterCount += tensor.elementCount;
    tensorBytes += tensor.byteSize;
  }
  return {
    architecture,
    name: stringOf(meta.get('general.name')),
    blockCount: required('block_count'),
    embeddingLength,
    feedForwardLength: arch('feed_forward_length'),
    headCount,
    headCountKv: arch('attention.head_count_kv') ?? headCount,
    keyLength: arch('attention.key_length') ?? headSize,
    valueLength: arch('attention.value_length') ?? headSize,
    contextLength: required('context_length'),
    vocabSize: arch('vocab_size') ?? (tokens?.type === 'array' ? tokens.value.length : undefined),
    expertCount: arch('expert_count'),
    expertUsedCount: arch('expert_used_count'),
    chatTemplate: stringOf(meta.get('tokenizer.chat_template')),
    fileType,
    fileTypeName: fileType === undefined ? undefined : fileTypeNames[fileType],
    parameterCount,
    tensorBytes,
    tensorTypes,
  };
}
