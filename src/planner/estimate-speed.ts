import type { HardwareSpec } from '../catalog/hardware/hardware-spec.js';
import type { QuantizationSpec } from '../catalog/quantizations/quantization-catalog.js';
import type { EstimateInput } from './estimate-input.js';
import { modelWeightBytes } from './estimate-memory.js';
import { kvBytesPerToken, kvShareOnDevice } from './kv-cache.js';
import { expertsTouched, modelParameters } from './model-parameters.js';
import { engineClass, shippedSpeedFactors, type SpeedFactors } from './speed-factors.js';

/** Peak operations per second for this quantization's matmul dtype (FP8 falls back to FP16 where missing). */
export function peakOpsPerSecond(hardware: HardwareSpec, quant: QuantizationSpec): number {
  if (quant.computeDtype === 'fp8') return hardware.fp8Flops ?? hardware.fp16Flops;
  if (quant.computeDtype === 'int8') return hardware.int8Ops;
  return hardware.fp16Flops;
}

/** Attention FLOPs of one new token against `contextTokens` cached ones (QKᵀ and AV, all layers). */
function attentionFlopsPerToken(input: EstimateInput, contextTokens: number): number {
  const { model } = input;
  const headDim = model.mla ? model.mla.kvLoraRank + model.mla.ropeHeadDim : model.headDim;
  return 4 * model.layers * model.attentionHeads * headDim * contextTokens;
}

/** Seconds of one decode step for `batch` streams whose caches hold `contextTokens` tokens on average. */
export function decodeStepSeconds(
  input: EstimateInput,
  batch: number,
  contextTokens: number,
  offloadedBytes: number,
  factors: SpeedFactors = shippedSpeedFactors,
): number {
  const { memorySeconds, computeSeconds, overheadSeconds } = decodeStepParts(
    input,
    batch,
    contextTokens,
    offloadedBytes,
    factors,
  );
  return Math.max(memorySeconds, computeSeconds) + overheadSeconds;
}

/** The parts of a decode step: moving bytes, computing, and fixed per-layer and communication costs. */
export function decodeStepParts(
  input: EstimateInput,
  batch: number,
  contextTokens: number,
  offloadedBytes: number,
  factors: SpeedFactors = shippedSpeedFactors,
): { memorySeconds: number; computeSeconds: number; overheadSeconds: number } {
  const { model, engine, hardware, quant, count } = input;
  const params = modelParameters(model);
  const weights = modelWeightBytes(input);
  const bytesPerParam = weights.totalBytes / params.totalParams;
  const inputTableBytes = (model.tiedEmbeddings ? 0 : params.outputHeadParams) * bytesPerParam;
  let expertBytesRead = 0;
  if (model.moe) {
    const touched = expertsTouched(model.moe.routedExperts, model.moe.expertsPerToken, batch);
    expertBytesRead = params.moeLayers * touched * params.expertParams * bytesPerParam;
  }
  const denseBytesRead = weights.totalBytes - weights.routedExpertBytes - inputTableBytes;
  const kvBytesRead = batch * contextTokens * kvBytesPerToken(model, engine);

  const efficiency = (kind: HardwareSpec['kind']): number =>
    factors.bandwidthEfficiency[kind] * (quant.dequantizes ? factors.dequantBandwidthFactor : 1);
  const tensor = engine.multiDeviceSplit === 'tensor' && count > 1;
  const deviceBandwidth = hardware.memoryBandwidthBytesPerSecond * efficiency(hardware.kind);
  const hostExpertBytes = offloadedBytes > 0 ? expertBytesRead : 0;
  const deviceBytes = denseBytesRead + expertBytesRead - hostExpertBytes;
  let memorySeconds = tensor
    ? (deviceBytes / count + kvBytesRead * kvShareOnDevice(model, engine, count)) / deviceBandwidth
    : (deviceBytes + kvBytesRead) / deviceBandwidth;
  if (hostExpertBytes > 0) {
    const host = input.host;
    const hostBandwidth = host
      ? host.hardware.memoryBandwidthBytesPerSecond * host.count * efficiency('cpu')
      : 200e9 * efficiency('cpu');
    memorySeconds += hostExpertBytes / hostBandwidth;
  }

  const flops = batch * (2 * params.activeParams + attentionFlopsPerToken(input, contextTokens));
  const computeRate = peakOpsPerSecond(hardware, quant) * factors.computeEfficiency[hardware.kind];
  const computeSeconds = flops / (computeRate * (tensor ? count : 1));

  let overheadSeconds = model.layers * factors.layerOverheadSeconds[engineClass(engine)];
  overheadSeconds += params.moeLayers * factors.moeLayerOverheadSeconds;
  if (tensor) {
    const bytes = batch * model.hiddenSize * 2 * ((2 * (count - 1)) / count);
    const perAllReduce = factors.allReduceLatencySeconds + bytes / hardware.interconnectBytesPerSecond;
    overheadSeconds += model.layers * 2 * perAllReduce;
  }
  return { memorySeconds, computeSeconds, overheadSeconds };
}

/** Prefill throughput (tokens/s) for one prompt of `promptTokens`: compute-bound, attention grows with P². */
export function prefillTokensPerSecond(
  input: EstimateInput,
  promptTokens: number,
  factors: SpeedFactors = shippedSpeedFactors,
): number {
  const { model, engine, hardware, quant, count } = input;
  const params = modelParameters(model);
  const headDim = model.mla ? model.mla.nopeHeadDim + model.mla.ropeHeadDim : model.headDim;
  const attentionFlops = 2 * model.layers * model.attentionHeads * headDim * promptTokens * promptTokens;
  const flops = 2 * params.activeParams * promptTokens + attentionFlops;
  const tensor = engine.multiDeviceSplit === 'tensor' && count > 1;
  const moeFactor = model.moe ? factors.moePrefillEfficiency : 1;
  const computeRate =
    peakOpsPerSecond(hardware, quant) * factors.computeEfficiency[hardware.kind] * moeFactor;
  const computeSeconds = flops / (computeRate * (tensor ? count : 1));
  // Every 512-token micro-batch streams the weights once (all experts, for a long enough prompt).
  const chunks = Math.ceil(promptTokens / 512);
  const weights = modelWeightBytes(input);
  const memorySeconds =
    (chunks * weights.totalBytes) /
    (hardware.memoryBandwidthBytesPerSecond *
      factors.bandwidthEfficiency[hardware.kind] *
      (tensor ? count : 1));
  const overheadSeconds = chunks * model.layers * factors.layerOverheadSeconds[engineClass(engine)];
  return promptTokens / (Math.max(computeSeconds, memorySeconds) + overheadSeconds);
}
