import type { EngineSpec } from '../catalog/engines/engine-catalog.js';
import type { ModelSpec } from '../catalog/models/model-spec.js';
import { paddedContext } from './kv-cache.js';

const F32 = 4;
const F16 = 2;

/**
 * llama.cpp's compute buffer (per device): ggml's allocator reuses memory, so the buffer is the graph's peak,
 * whichever of three phases is largest (fitted to the buffers llama.cpp reports through node-llama-cpp for
 * generated models; see test/planner/memory-accuracy.test.ts):
 * - output: logits for a whole micro-batch, ubatch × (vocab + 4·hidden) × 4 bytes;
 * - attention without flash attention: ubatch × ctx × (heads + 1) × 4 (scores and mask) + ubatch × (5·hidden +
 *   2·kv_dim) × 4; with flash attention only the F16 mask, ubatch × ctx × 2;
 * - FFN: ubatch × (3·ffn + 4·hidden) × 4 plus the mask.
 */
export function llamaCppComputeBytes(
  model: ModelSpec,
  contextTokens: number,
  options: { ubatchTokens?: number; flashAttention?: boolean } = {},
): number {
  const ubatch = Math.min(options.ubatchTokens ?? 512, contextTokens);
  const hidden = model.hiddenSize;
  const kvDim = model.kvHeads * model.headDim;
  const ffn = model.moe ? Math.max(model.ffnSize, model.moe.expertFfnSize) : model.ffnSize;
  const mask = ubatch * contextTokens * (options.flashAttention ? F16 : F32);
  const output = ubatch * (model.vocabSize + 4 * hidden) * F32;
  const attention = options.flashAttention
    ? mask + ubatch * (5 * hidden + 2 * kvDim) * F32
    : mask + ubatch * contextTokens * model.attentionHeads * F32 + ubatch * (5 * hidden + 2 * kvDim) * F32;
  const feedForward = mask + ubatch * (3 * ffn + 4 * hidden) * F32;
  return Math.max(output, attention, feedForward);
}

/**
 * Activation workspace of the serving engines (vLLM, SGLang, TensorRT-LLM, MindIE): their profiling run
 * pushes one chunk of `chunkTokens` through the model, so the peak is about chunk × (4·hidden + 2·ffn/tp) in
 * 16-bit, plus sampler logits for up to 256 sequences in FP32.
 */
export function servingActivationBytes(model: ModelSpec, tensorParallel: number, chunkTokens = 8192): number {
  const ffn = model.moe
    ? Math.max(model.ffnSize, model.moe.expertFfnSize * model.moe.expertsPerToken)
    : model.ffnSize;
  const perToken = 4 * model.hiddenSize + (2 * ffn) / Math.max(1, tensorParallel);
  return chunkTokens * perToken * F16 + 256 * model.vocabSize * F32;
}

/** The compute/activation bytes one device needs under this engine. */
export function computeBytesOnDevice(
  model: ModelSpec,
  engine: EngineSpec,
  devices: number,
  contextTokens: number,
  flashAttention: boolean,
): number {
  if (engine.memory.computeModel === 'llama.cpp') {
    return llamaCppComputeBytes(model, paddedContext(contextTokens, engine), { flashAttention });
  }
  return servingActivationBytes(model, engine.multiDeviceSplit === 'tensor' ? devices : 1);
}
