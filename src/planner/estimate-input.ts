import { findEngine, type EngineSpec } from '../catalog/engines/engine-catalog.js';
import { findHardware } from '../catalog/hardware/hardware-catalog.js';
import type { HardwareSpec } from '../catalog/hardware/hardware-spec.js';
import { findModel } from '../catalog/models/model-catalog.js';
import type { ModelSpec } from '../catalog/models/model-spec.js';
import { findQuantization, type QuantizationSpec } from '../catalog/quantizations/quantization-catalog.js';
import type { SpeedCalibration } from './calibration/measured-efficiency.js';

/** One question to the planner: this model, quantized so, on this engine, on `count` of this device. */
export interface EstimateInput {
  model: ModelSpec;
  quant: QuantizationSpec;
  engine: EngineSpec;
  hardware: HardwareSpec;
  /** Devices in the instance (tensor parallel or layer split, per the engine). */
  count: number;
  /** Concurrent streams (sequences decoded together). */
  batch: number;
  /** Context per stream, tokens (KV is allocated for this). */
  contextTokens: number;
  promptTokens: number;
  outputTokens: number;
  /** Exact weight bytes when they are known (a GGUF file's tensor data). */
  weightsBytes?: number;
  /** llama.cpp flash attention (default false, as node-llama-cpp's createContext). */
  flashAttention?: boolean;
  /** CPU that holds offloaded experts (KTransformers, llama.cpp -ot): its bandwidth × `hostCount`. */
  host?: { hardware: HardwareSpec; count: number };
  /** A measured efficiency for this hardware and engine (`edgefleet calibrate`): decode speed × efficiency. */
  calibration?: SpeedCalibration;
}

export const estimateDefaults = {
  count: 1,
  batch: 1,
  contextTokens: 4096,
  promptTokens: 500,
  outputTokens: 1000,
} as const;

/** Fractions of device memory a model may use, by what reserves the rest. */
export function usableFraction(engine: EngineSpec, hardware: HardwareSpec): number {
  if (engine.memory.preallocateFraction !== null) return engine.memory.preallocateFraction;
  if (hardware.kind === 'apple') return 0.75; // macOS wires at most ~3/4 of unified memory for the GPU
  if (hardware.kind === 'cpu') return 0.9;
  return 0.97;
}

/** An estimate request by catalog ids (or ready specs), with the defaults filled in. */
export interface EstimateRequest {
  model: string | ModelSpec;
  quant: string;
  engine: string;
  hardware: string | HardwareSpec;
  count?: number;
  batch?: number;
  contextTokens?: number;
  promptTokens?: number;
  outputTokens?: number;
  weightsBytes?: number;
  flashAttention?: boolean;
  host?: { hardware: string; count: number };
}

/** Resolves ids against the catalogs (unknown ids throw, listing the valid ones) and applies defaults. */
export function inputFromIds(request: EstimateRequest): EstimateInput {
  const promptTokens = request.promptTokens ?? estimateDefaults.promptTokens;
  const outputTokens = request.outputTokens ?? estimateDefaults.outputTokens;
  const input: EstimateInput = {
    model: typeof request.model === 'string' ? findModel(request.model) : request.model,
    quant: findQuantization(request.quant),
    engine: findEngine(request.engine),
    hardware: typeof request.hardware === 'string' ? findHardware(request.hardware) : request.hardware,
    count: request.count ?? estimateDefaults.count,
    batch: request.batch ?? estimateDefaults.batch,
    contextTokens:
      request.contextTokens ?? Math.max(estimateDefaults.contextTokens, promptTokens + outputTokens),
    promptTokens,
    outputTokens,
  };
  if (request.weightsBytes !== undefined) input.weightsBytes = request.weightsBytes;
  if (request.flashAttention !== undefined) input.flashAttention = request.flashAttention;
  if (request.host) input.host = { hardware: findHardware(request.host.hardware), count: request.host.count };
  return input;
}
