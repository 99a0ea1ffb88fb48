import { z } from 'zod';
import { assertUniqueIds, findById } from '../lookup/find-by-id.js';

/** A weight format: real bits per weight (block scales included), and what the hardware must do natively. */
export const quantizationSpecSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  /** gguf: llama.cpp family; safetensors: vLLM/SGLang/TensorRT-LLM/MindIE; mlx: Apple MLX. */
  format: z.enum(['gguf', 'safetensors', 'mlx']),
  /** Average bits per weight of the transformer blocks (a mix of tensor types for *_K_M, UD and similar). */
  bitsPerWeight: z.number().positive(),
  /** Bits per weight of the token embedding and output head, which most schemes keep at higher precision. */
  embeddingBitsPerWeight: z.number().positive(),
  /** Activations/matmul dtype: what the prefill FLOPs run at. */
  computeDtype: z.enum(['f16', 'fp8', 'int8']),
  /** A dtype the device must support natively (fp8 needs Hopper/Ada/MI300; w8a8 needs int8 tensor cores). */
  requiresNativeDtype: z.enum(['fp8', 'int8']).nullable(),
  /** Weight-only low-bit formats must dequantize on the fly: decode reads fewer bytes but does more work. */
  dequantizes: z.boolean(),
  source: z.string().min(1),
});

export type QuantizationSpec = z.infer<typeof quantizationSpecSchema>;

const ggmlBlocks = 'llama.cpp ggml-common.h block layouts';
const ggufFiles = 'measured bits per weight of published GGUF files (gguf-parser-go README, calibration CSV)';

const quantizations: QuantizationSpec[] = [
  {
    id: 'bf16',
    name: 'BF16',
    format: 'safetensors',
    bitsPerWeight: 16,
    embeddingBitsPerWeight: 16,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: false,
    source: 'IEEE/bfloat16: 2 bytes per weight',
  },
  {
    id: 'f16',
    name: 'F16',
    format: 'gguf',
    bitsPerWeight: 16,
    embeddingBitsPerWeight: 16,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: false,
    source: `${ggmlBlocks}: GGML_TYPE_F16`,
  },
  {
    id: 'fp8',
    name: 'FP8 (E4M3, 128×128 block scales)',
    format: 'safetensors',
    bitsPerWeight: 8.002,
    embeddingBitsPerWeight: 16,
    computeDtype: 'fp8',
    requiresNativeDtype: 'fp8',
    dequantizes: false,
    source:
      'DeepSeek-V3 technical report §3.3 (fine-grained FP8, one FP32 scale per 128×128 block; BF16 embeddings)',
  },
  {
    id: 'w8a8',
    name: 'W8A8 INT8 (per-channel)',
    format: 'safetensors',
    bitsPerWeight: 8.01,
    embeddingBitsPerWeight: 16,
    computeDtype: 'int8',
    requiresNativeDtype: 'int8',
    dequantizes: false,
    source: 'SmoothQuant/llm-compressor W8A8: INT8 weights with per-channel scales; MindIE W8A8',
  },
  {
    id: 'awq-int4',
    name: 'AWQ INT4 (group 128)',
    format: 'safetensors',
    bitsPerWeight: 4.16,
    embeddingBitsPerWeight: 16,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: 'AutoAWQ GEMM format: 4-bit weights, FP16 scale + 4-bit zero per group of 128; head unquantized',
  },
  {
    id: 'gptq-int4',
    name: 'GPTQ INT4 (group 128)',
    format: 'safetensors',
    bitsPerWeight: 4.16,
    embeddingBitsPerWeight: 16,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: 'AutoGPTQ format: 4-bit weights, FP16 scale + packed zero per group of 128; head unquantized',
  },
  {
    id: 'q8_0',
    name: 'GGUF Q8_0',
    format: 'gguf',
    bitsPerWeight: 8.5,
    embeddingBitsPerWeight: 8.5,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: 34 bytes per 32 weights`,
  },
  {
    id: 'q6_k',
    name: 'GGUF Q6_K',
    format: 'gguf',
    bitsPerWeight: 6.5625,
    embeddingBitsPerWeight: 6.5625,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: 210 bytes per 256`,
  },
  {
    id: 'q5_k_m',
    name: 'GGUF Q5_K_M (Q5_K + Q6_K mix)',
    format: 'gguf',
    bitsPerWeight: 5.69,
    embeddingBitsPerWeight: 6.06,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: Q5_K 5.5 bpw, half of attn_v/ffn_down in Q6_K; ${ggufFiles}`,
  },
  {
    id: 'q4_k_m',
    name: 'GGUF Q4_K_M (Q4_K + Q6_K mix)',
    format: 'gguf',
    bitsPerWeight: 4.82,
    embeddingBitsPerWeight: 5.53,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: Q4_K 4.5 bpw, half of attn_v/ffn_down and the output in Q6_K; ${ggufFiles} (R1: 376.65 GiB, Llama-3-8B: 4.58 GiB)`,
  },
  {
    id: 'q4_0',
    name: 'GGUF Q4_0',
    format: 'gguf',
    bitsPerWeight: 4.5,
    embeddingBitsPerWeight: 5.53,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: 18 bytes per 32 weights; output tensor in Q6_K`,
  },
  {
    id: 'iq1_s',
    name: 'GGUF IQ1_S (Unsloth dynamic mix)',
    format: 'gguf',
    bitsPerWeight: 1.66,
    embeddingBitsPerWeight: 4.5,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source: `${ggmlBlocks}: IQ1_S 1.5625 bpw; UD-IQ1_S keeps attention/shared experts higher: DeepSeek-R1 130.60 GiB = 1.67 bpw (gguf-parser-go README)`,
  },
  {
    id: 'mlx-4bit',
    name: 'MLX 4-bit (group 64)',
    format: 'mlx',
    bitsPerWeight: 4.5,
    embeddingBitsPerWeight: 4.5,
    computeDtype: 'f16',
    requiresNativeDtype: null,
    dequantizes: true,
    source:
      'mlx.nn.quantize: 4-bit weights with FP16 scale and bias per group of 64 (embeddings quantized too)',
  },
];

/** Every built-in quantization, validated once and frozen. */
export const quantizationCatalog: readonly QuantizationSpec[] = Object.freeze(
  quantizations.map((quantization) => Object.freeze(quantizationSpecSchema.parse(quantization))),
);
assertUniqueIds(quantizationCatalog, 'quantization');

/** The quantization with this id; an unknown id throws an error that lists the valid ids. */
export function findQuantization(id: string): QuantizationSpec {
  return findById(quantizationCatalog, id, 'quantization', 'quant');
}
