import { modelParameters } from './model-parameters.js';
import { costEnergy, type CostEnergy } from './cost-energy.js';
import type { SpeedCalibration } from './calibration/measured-efficiency.js';
import type { EstimateInput } from './estimate-input.js';
import { estimateMemory, type MemoryEstimate } from './estimate-memory.js';
import { decodeStepParts, prefillTokensPerSecond } from './estimate-speed.js';
import { shippedSpeedFactors, type SpeedFactors } from './speed-factors.js';

const GB = 1e9;

/**
 * Reasons this combination cannot run at all, before any memory arithmetic: the engine does not run on the
 * device or the quantization, the device lacks the dtype the format needs, tensor parallelism does not divide
 * the heads, or the context is longer than the model was trained for.
 */
export function incompatibilities(input: EstimateInput): string[] {
  const { model, quant, engine, hardware, count } = input;
  const reasons: string[] = [];
  const vendorOk = hardware.vendor === 'custom' || engine.vendors.includes(hardware.vendor);
  if (!engine.hardwareKinds.includes(hardware.kind) || !vendorOk) {
    reasons.push(
      `${engine.id} does not run on ${hardware.id} (${hardware.vendor} ${hardware.kind}); it runs on ${engine.vendors.join('/')} ${engine.hardwareKinds.join('/')}`,
    );
  }
  if (!engine.quantizations.includes(quant.id)) {
    reasons.push(`${engine.id} does not load ${quant.id}; it loads ${engine.quantizations.join(', ')}`);
  }
  if (quant.requiresNativeDtype !== null && !hardware.nativeDtypes.includes(quant.requiresNativeDtype)) {
    const bf16Bytes = modelParameters(model).totalParams * 2;
    reasons.push(
      `${hardware.id} has no native ${quant.requiresNativeDtype.toUpperCase()}, which ${quant.id} weights need; in BF16 the weights alone would need ${(bf16Bytes / GB).toFixed(0)} GB`,
    );
  }
  if (engine.multiDeviceSplit === 'tensor' && count > 1 && model.attentionHeads % count !== 0) {
    reasons.push(`tensor parallel ${count} does not divide ${model.attentionHeads} attention heads`);
  }
  if (input.contextTokens > model.contextLength) {
    reasons.push(`context ${input.contextTokens} is longer than ${model.id}'s ${model.contextLength} tokens`);
  }
  if (!Number.isInteger(count) || count < 1) reasons.push(`count must be a positive integer, got ${count}`);
  return reasons;
}

/** The planner's answer for one configuration (the JSON `edgefleet estimate --json` prints). */
export interface Estimate extends CostEnergy {
  model: string;
  quant: string;
  engine: string;
  hardware: string;
  count: number;
  batch: number;
  contextTokens: number;
  promptTokens: number;
  outputTokens: number;
  fits: boolean;
  /** Why it does not fit or run, or (when it fits) what limits it. */
  reasons: string[];
  memory: Omit<MemoryEstimate, 'kvBytesPerStreamOnDevice' | 'weightsOnDeviceBytes' | 'offloadedBytes'>;
  decode: { tokensPerSecondPerStream: number; tokensPerSecond: number };
  prefill: { tokensPerSecond: number };
  timeToFirstTokenMs: number;
  timePerOutputTokenMs: number;
  /** Streams of `contextTokens` whose KV cache fits beside the weights (0 when nothing fits). */
  maxConcurrency: number;
  /** Present when decode speed was scaled by a measured efficiency (absent for the roofline alone). */
  calibrated?: SpeedCalibration;
}

/** Bytes in the unit that reads best (a microcontroller's 352 KB must not print as 0.0 GB). */
function gb(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(0)} kB`;
}

/**
 * Estimates memory, fit, speed, concurrency, energy and cost for one configuration. Pure: same input, same
 * answer. Decode speed is taken at the middle of the answer (prompt + half the output in the cache).
 */
export function estimate(input: EstimateInput, factors: SpeedFactors = shippedSpeedFactors): Estimate {
  const memory = estimateMemory(input);
  const reasons = incompatibilities(input);
  const runnable = reasons.length === 0;
  const usable = memory.usablePerDeviceBytes;
  if (memory.perDeviceBytes > usable) {
    reasons.push(
      `needs ${gb(memory.perDeviceBytes)} of memory per device (weights ${gb(memory.weightsOnDeviceBytes)}), but ${input.hardware.id} offers ${gb(usable)} usable of ${gb(input.hardware.memoryBytes)}` +
        (input.count > 1 ? ` on each of ${input.count}` : ''),
    );
  }
  const hostLimit = input.host
    ? input.host.hardware.memoryBytes * input.host.count
    : input.hardware.hostMemoryBytes;
  if (memory.hostBytes > hostLimit) {
    reasons.push(
      `offloaded experts need ${gb(memory.hostBytes)} of host memory; the host has ${gb(hostLimit)}`,
    );
  }
  const fits = runnable && reasons.length === 0;

  const free =
    usable - memory.weightsOnDeviceBytes - (memory.computeBytes + memory.overheadBytes) / input.count;
  const hostFits = memory.hostBytes <= hostLimit;
  const maxConcurrency =
    runnable && hostFits ? Math.max(0, Math.floor(free / memory.kvBytesPerStreamOnDevice)) : 0;
  if (!fits && runnable && hostFits && maxConcurrency >= 1) {
    reasons.push(
      `at most ${maxConcurrency} streams of ${input.contextTokens} tokens fit (asked for ${input.batch})`,
    );
  }
  const midContext = Math.min(input.contextTokens, input.promptTokens + input.outputTokens / 2);
  const parts = decodeStepParts(input, input.batch, midContext, memory.offloadedBytes, factors);
  const rooflineStepSeconds = Math.max(parts.memorySeconds, parts.computeSeconds) + parts.overheadSeconds;
  // A measured efficiency scales the whole step: decode speed × efficiency (prefill is not scaled).
  const stepSeconds = rooflineStepSeconds / (input.calibration?.efficiency ?? 1);
  const prefillTps = prefillTokensPerSecond(input, Math.max(1, input.promptTokens), factors);
  const decodeTps = input.batch / stepSeconds;
  if (fits) {
    if (memory.offloadedBytes > 0)
      reasons.push(`routed experts (${gb(memory.offloadedBytes)}) run from host memory`);
    const c = input.calibration;
    if (c) {
      const other = c.from.model !== input.model.id || c.from.quant !== input.quant.id;
      reasons.push(
        `decode speed × ${c.efficiency.toFixed(3)}, measured on ${c.from.hardware} with ${c.from.engine} (roofline step ${(rooflineStepSeconds * 1000).toFixed(2)} ms)` +
          (other
            ? `; measured with ${c.from.model} ${c.from.quant}, so it transfers best to models of similar size`
            : ''),
      );
    }
    reasons.push(
      `decode step ${(stepSeconds * 1000).toFixed(2)} ms at batch ${input.batch}: ${parts.memorySeconds >= parts.computeSeconds ? 'memory-bandwidth' : 'compute'}-bound (memory ${(parts.memorySeconds * 1000).toFixed(2)} ms, compute ${(parts.computeSeconds * 1000).toFixed(2)} ms, per-layer and communication overhead ${(parts.overheadSeconds * 1000).toFixed(2)} ms)`,
    );
    if (maxConcurrency < input.batch)
      reasons.push(`only ${maxConcurrency} streams of ${input.contextTokens} tokens fit`);
  }
  const {
    kvBytesPerStreamOnDevice: _kv,
    weightsOnDeviceBytes: _w,
    offloadedBytes: _o,
    ...memoryOut
  } = memory;
  return {
    model: input.model.id,
    quant: input.quant.id,
    engine: input.engine.id,
    hardware: input.hardware.id,
    count: input.count,
    batch: input.batch,
    contextTokens: input.contextTokens,
    promptTokens: input.promptTokens,
    outputTokens: input.outputTokens,
    fits,
    reasons,
    memory: memoryOut,
    decode: { tokensPerSecondPerStream: 1 / stepSeconds, tokensPerSecond: decodeTps },
    prefill: { tokensPerSecond: prefillTps },
    timeToFirstTokenMs: (input.promptTokens / prefillTps + stepSeconds) * 1000,
    timePerOutputTokenMs: stepSeconds * 1000,
    maxConcurrency,
    ...(input.calibration ? { calibrated: input.calibration } : {}),
    ...costEnergy({
      hardware: input.hardware,
      count: input.count,
      decodeTokensPerSecond: decodeTps,
      prefillTokensPerSecond: prefillTps,
      promptTokens: input.promptTokens,
      outputTokens: input.outputTokens,
    }),
  };
}
