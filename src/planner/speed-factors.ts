import type { EngineSpec } from '../catalog/engines/engine-catalog.js';
import type { HardwareKind } from '../catalog/hardware/hardware-spec.js';

/** Engine families that share per-step overheads. */
export type EngineClass = 'llamacpp' | 'serving' | 'mlx';

export function engineClass(engine: EngineSpec): EngineClass {
  if (engine.id === 'mlx') return 'mlx';
  if (engine.id === 'llama.cpp' || engine.id === 'ollama' || engine.id === 'ktransformers') return 'llamacpp';
  return 'serving';
}

/**
 * The roofline's efficiency factors: fractions of peak bandwidth and compute an engine reaches, and fixed
 * per-layer costs (kernel launches, synchronization) that the roofline alone misses. Fitted to
 * data/calibration/published-measurements.csv by fitSpeedFactors (src/planner/calibration); the values
 * shipped here are that fit's output, and test/planner/speed-accuracy.test.ts checks they still are.
 */
export interface SpeedFactors {
  bandwidthEfficiency: Record<HardwareKind, number>;
  computeEfficiency: Record<HardwareKind, number>;
  /** Extra loss of bandwidth efficiency for formats that dequantize on the fly (k-quants, AWQ, MLX 4-bit). */
  dequantBandwidthFactor: number;
  /** Seconds per layer per decode step, by engine family. */
  layerOverheadSeconds: Record<EngineClass, number>;
  /** Extra seconds per MoE layer per step (routing, expert dispatch). */
  moeLayerOverheadSeconds: number;
  /** Fraction of the dense compute efficiency MoE prefill reaches (many small per-expert matmuls). */
  moePrefillEfficiency: number;
  /** Latency of one all-reduce between tensor-parallel ranks (not fitted: NCCL small-message latency). */
  allReduceLatencySeconds: number;
}

/** Starting point and prior of the fit: typical fractions of peak reported for memory-bound decode. */
export const speedFactorPriors: SpeedFactors = {
  bandwidthEfficiency: { gpu: 0.8, npu: 0.7, cpu: 0.5, apple: 0.75 },
  computeEfficiency: { gpu: 0.6, npu: 0.5, cpu: 0.5, apple: 0.5 },
  dequantBandwidthFactor: 0.8,
  layerOverheadSeconds: { llamacpp: 20e-6, serving: 10e-6, mlx: 20e-6 },
  moeLayerOverheadSeconds: 100e-6,
  moePrefillEfficiency: 0.5,
  allReduceLatencySeconds: 10e-6,
};

/** The fit's output (prior weight 1) on the calibration CSV; regenerate with scripts/planner-accuracy.mjs. */
export const shippedSpeedFactors: SpeedFactors = {
  bandwidthEfficiency: { gpu: 0.8, npu: 0.7, cpu: 0.5, apple: 0.75 },
  computeEfficiency: { gpu: 0.6, npu: 0.5, cpu: 0.5, apple: 0.74 },
  dequantBandwidthFactor: 0.8,
  layerOverheadSeconds: { llamacpp: 30e-6, serving: 65e-6, mlx: 20e-6 },
  moeLayerOverheadSeconds: 140e-6,
  moePrefillEfficiency: 0.5,
  allReduceLatencySeconds: 10e-6,
};

/** The factors a fit may change, with their search bounds. */
export const fittedFactorBounds: Record<string, readonly [number, number]> = {
  'bandwidthEfficiency.gpu': [0.2, 1],
  'bandwidthEfficiency.apple': [0.2, 1],
  'bandwidthEfficiency.cpu': [0.05, 1],
  'computeEfficiency.gpu': [0.05, 1],
  'computeEfficiency.apple': [0.05, 1],
  dequantBandwidthFactor: [0.3, 1],
  'layerOverheadSeconds.llamacpp': [0, 300e-6],
  'layerOverheadSeconds.serving': [0, 300e-6],
  moeLayerOverheadSeconds: [0, 1e-3],
  moePrefillEfficiency: [0.01, 1],
};

/** Reads a dotted factor path ("bandwidthEfficiency.gpu"). */
export function getFactor(factors: SpeedFactors, path: string): number {
  const [head, tail] = path.split('.') as [keyof SpeedFactors, string | undefined];
  const value = factors[head];
  if (typeof value === 'number') return value;
  return (value as Record<string, number>)[tail ?? ''] ?? Number.NaN;
}

/** A copy of the factors with one dotted path set. */
export function withFactor(factors: SpeedFactors, path: string, value: number): SpeedFactors {
  const [head, tail] = path.split('.') as [keyof SpeedFactors, string | undefined];
  const current = factors[head];
  if (typeof current === 'number' || tail === undefined) return { ...factors, [head]: value };
  return { ...factors, [head]: { ...current, [tail]: value } };
}
