import { computeBytesOnDevice } from './compute-buffer.js';
import type { EstimateInput } from './estimate-input.js';
import { usableFraction } from './estimate-input.js';
import { kvCacheBytesOnDevice } from './kv-cache.js';
import { modelParameters } from './model-parameters.js';

/** Where the bytes go. Totals are for the whole instance; perDeviceBytes is the fullest device. */
export interface MemoryEstimate {
  weightsBytes: number;
  kvCacheBytes: number;
  computeBytes: number;
  overheadBytes: number;
  perDeviceBytes: number;
  hostBytes: number;
  /** What one device may use (after the engine's reservation or the OS's share). */
  usablePerDeviceBytes: number;
  /** KV bytes of one stream on the fullest device, for the concurrency bound. */
  kvBytesPerStreamOnDevice: number;
  /** Weights on the fullest device. */
  weightsOnDeviceBytes: number;
  /** Routed expert bytes moved to host memory (0 when nothing is offloaded). */
  offloadedBytes: number;
}

/** Weight bytes of the whole model at this quantization (blocks at bitsPerWeight, embeddings at theirs). */
export function modelWeightBytes(input: Pick<EstimateInput, 'model' | 'quant' | 'weightsBytes'>): {
  totalBytes: number;
  routedExpertBytes: number;
  outputHeadBytes: number;
} {
  const params = modelParameters(input.model);
  const { bitsPerWeight, embeddingBitsPerWeight } = input.quant;
  const computed = (params.blockParams * bitsPerWeight + params.embeddingParams * embeddingBitsPerWeight) / 8;
  const totalBytes = input.weightsBytes ?? computed;
  const scale = totalBytes / computed;
  return {
    totalBytes,
    routedExpertBytes: ((params.routedExpertParams * bitsPerWeight) / 8) * scale,
    outputHeadBytes: ((params.outputHeadParams * embeddingBitsPerWeight) / 8) * scale,
  };
}

/**
 * Memory per device: weights (split by tensor parallel or by layers), KV cache (per the engine's layout),
 * compute buffers, runtime overhead, and host memory for offloaded MoE experts. Experts are offloaded when
 * the engine can and either always does (KTransformers) or the model would not fit otherwise.
 */
export function estimateMemory(input: EstimateInput): MemoryEstimate {
  const { model, engine, hardware, count } = input;
  const weights = modelWeightBytes(input);
  const isAccelerator = hardware.kind === 'gpu' || hardware.kind === 'npu';
  const overheadPerDevice = isAccelerator
    ? engine.memory.runtimeOverheadBytes
    : hardware.kind === 'apple'
      ? 0.2e9
      : 0;
  const kvPerDevice = kvCacheBytesOnDevice(model, engine, count, input.batch, input.contextTokens);
  const kvPerStream = kvCacheBytesOnDevice(model, engine, count, 1, input.contextTokens);
  const computePerDevice = computeBytesOnDevice(
    model,
    engine,
    count,
    input.contextTokens,
    input.flashAttention ?? false,
  );
  const usable = usableFraction(engine, hardware) * hardware.memoryBytes;

  const weightsOnDevice = (offloaded: number): number => {
    const onDevices = weights.totalBytes - offloaded;
    if (count <= 1) return onDevices;
    if (engine.multiDeviceSplit === 'tensor') return onDevices / count;
    // Layer split: the fullest device holds ceil(layers / count) layers plus the output head.
    const blockShare = Math.ceil(model.layers / count) / model.layers;
    return (onDevices - weights.outputHeadBytes) * blockShare + weights.outputHeadBytes;
  };
  const perDevice = (offloaded: number): number =>
    weightsOnDevice(offloaded) + kvPerDevice + computePerDevice + overheadPerDevice;

  let offloaded = 0;
  const canOffload = engine.expertOffload && model.moe !== undefined && isAccelerator;
  if (canOffload && (engine.id === 'ktransformers' || perDevice(0) > usable))
    offloaded = weights.routedExpertBytes;
  const fullest = perDevice(offloaded);
  // Whole bytes: fractional bits per weight give fractional sums, which mean nothing to a reader.
  const round = Math.round;
  return {
    weightsBytes: round(weights.totalBytes),
    kvCacheBytes: round(kvPerDevice * count),
    computeBytes: round(computePerDevice * count),
    overheadBytes: round(overheadPerDevice * count),
    perDeviceBytes: round(fullest),
    hostBytes: round(offloaded),
    usablePerDeviceBytes: round(usable),
    kvBytesPerStreamOnDevice: round(kvPerStream),
    weightsOnDeviceBytes: round(weightsOnDevice(offloaded)),
    offloadedBytes: round(offloaded),
  };
}
