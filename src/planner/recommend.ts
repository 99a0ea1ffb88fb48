import { engineCatalog } from '../catalog/engines/engine-catalog.js';
import type { HardwareSpec } from '../catalog/hardware/hardware-spec.js';
import { modelCatalog } from '../catalog/models/model-catalog.js';
import { quantizationCatalog } from '../catalog/quantizations/quantization-catalog.js';
import type { SpeedCalibration } from './calibration/measured-efficiency.js';
import { estimateDefaults, type EstimateInput } from './estimate-input.js';
import { estimate, type Estimate } from './estimate.js';
import { modelParameters } from './model-parameters.js';

export interface RecommendRequest {
  hardware: HardwareSpec;
  /** Devices available. */
  count: number;
  /** Concurrent users to serve (default: no requirement). */
  users?: number;
  sloTtftMs?: number;
  sloTpotMs?: number;
  contextTokens?: number;
  promptTokens?: number;
  outputTokens?: number;
  /** Measured efficiencies on this hardware, by engine id (`edgefleet calibrate`). */
  calibrations?: Readonly<Record<string, SpeedCalibration>>;
}

/** One way to use the devices: `replicas` instances of `devicesPerInstance` devices each. */
export interface Recommendation {
  model: string;
  paramsB: number;
  quant: string;
  engine: string;
  devicesPerInstance: number;
  replicas: number;
  meetsSlo: boolean;
  /** Streams per instance that keep TPOT within the SLO (and fit in memory). */
  streamsPerInstance: number;
  /** Streams over all replicas. */
  totalStreams: number;
  decodeTokensPerSecondPerStream: number;
  totalDecodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  timePerOutputTokenMs: number;
  perDeviceBytes: number;
  /** Host memory for MoE experts offloaded to the CPU (0 when none). */
  hostBytes: number;
  costPerMillionOutputTokensUsd: number | null;
  /** Whether decode speed was scaled by a measured efficiency for this engine. */
  calibrated: boolean;
  why: string[];
}

/** Instance sizes worth trying: 1, 2, 4, 8, … up to the devices available. */
function instanceSizes(count: number): number[] {
  const sizes: number[] = [];
  for (let size = 1; size <= count; size *= 2) sizes.push(size);
  return sizes;
}

/** The largest batch b ≤ limit whose TPOT meets the SLO (TPOT grows with b), or 0. */
export function streamsWithinSlo(input: EstimateInput, limit: number, sloTpotMs: number | undefined): number {
  if (limit < 1) return 0;
  const tpot = (batch: number): number => estimate({ ...input, batch }).timePerOutputTokenMs;
  if (sloTpotMs === undefined || tpot(limit) <= sloTpotMs) return limit;
  if (tpot(1) > sloTpotMs) return 0;
  let low = 1;
  let high = limit;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (tpot(middle) <= sloTpotMs) low = middle;
    else high = middle;
  }
  return low;
}

/**
 * Every model × quantization × engine × instance size that fits the devices, ranked: configurations that meet
 * the SLO (and serve `users`) first; formats of at least 4 bits before sub-4-bit ones (IQ1_S costs too much
 * quality to beat a smaller model at 4+ bits); then larger models, higher precision, throughput.
 */
export function recommend(request: RecommendRequest): Recommendation[] {
  const promptTokens = request.promptTokens ?? estimateDefaults.promptTokens;
  const outputTokens = request.outputTokens ?? estimateDefaults.outputTokens;
  const contextTokens =
    request.contextTokens ?? Math.max(estimateDefaults.contextTokens, promptTokens + outputTokens);
  const results: Recommendation[] = [];
  for (const model of modelCatalog) {
    const paramsB = modelParameters(model).totalParams / 1e9;
    for (const engine of engineCatalog) {
      const calibration = request.calibrations?.[engine.id];
      for (const quant of quantizationCatalog.filter((q) => engine.quantizations.includes(q.id))) {
        for (const size of instanceSizes(request.count)) {
          const input: EstimateInput = {
            model,
            quant,
            engine,
            hardware: request.hardware,
            count: size,
            batch: 1,
            contextTokens,
            promptTokens,
            outputTokens,
            ...(calibration ? { calibration } : {}),
          };
          const single = estimate(input);
          if (!single.fits || contextTokens > model.contextLength) continue;
          const replicas = Math.floor(request.count / size);
          const streams = streamsWithinSlo(
            input,
            engine.continuousBatching ? Math.max(1, single.maxConcurrency) : 1,
            request.sloTpotMs,
          );
          const atLoad: Estimate = estimate({ ...input, batch: Math.max(1, streams) });
          const why: string[] = [];
          const ttftOk = request.sloTtftMs === undefined || single.timeToFirstTokenMs <= request.sloTtftMs;
          if (!ttftOk)
            why.push(`TTFT ${single.timeToFirstTokenMs.toFixed(0)} ms > SLO ${request.sloTtftMs} ms`);
          if (streams === 0)
            why.push(
              `TPOT ${single.timePerOutputTokenMs.toFixed(1)} ms > SLO ${request.sloTpotMs} ms even for one stream`,
            );
          const totalStreams = streams * replicas;
          const usersOk = request.users === undefined || totalStreams >= request.users;
          if (!usersOk)
            why.push(`serves ${totalStreams} concurrent streams, fewer than ${request.users} users`);
          const meetsSlo = ttftOk && streams > 0 && usersOk;
          if (single.memory.hostBytes > 0) {
            why.push(
              `MoE experts (${(single.memory.hostBytes / 1e9).toFixed(0)} GB) offloaded to host memory`,
            );
          }
          if (calibration) why.push(`speed calibrated: measured × ${calibration.efficiency.toFixed(3)}`);
          if (meetsSlo) {
            why.push(
              `${replicas} × ${size} device${size > 1 ? 's' : ''}: ${streams} streams each within the SLO, ${(atLoad.decode.tokensPerSecond * replicas).toFixed(0)} tok/s in all`,
            );
          }
          results.push({
            model: model.id,
            paramsB: Number(paramsB.toFixed(2)),
            quant: quant.id,
            engine: engine.id,
            devicesPerInstance: size,
            replicas,
            meetsSlo,
            streamsPerInstance: streams,
            totalStreams,
            decodeTokensPerSecondPerStream: atLoad.decode.tokensPerSecondPerStream,
            totalDecodeTokensPerSecond: atLoad.decode.tokensPerSecond * replicas,
            timeToFirstTokenMs: single.timeToFirstTokenMs,
            timePerOutputTokenMs: atLoad.timePerOutputTokenMs,
            perDeviceBytes: single.memory.perDeviceBytes,
            hostBytes: single.memory.hostBytes,
            costPerMillionOutputTokensUsd: atLoad.costPerMillionOutputTokensUsd,
            calibrated: calibration !== undefined,
            why,
          });
        }
      }
    }
  }
  const bits = new Map(quantizationCatalog.map((q) => [q.id, q.bitsPerWeight]));
  return results.sort(
    (a, b) =>
      Number(b.meetsSlo) - Number(a.meetsSlo) ||
      Number((bits.get(b.quant) ?? 0) >= 4) - Number((bits.get(a.quant) ?? 0) >= 4) ||
      b.paramsB - a.paramsB ||
      (bits.get(b.quant) ?? 0) - (bits.get(a.quant) ?? 0) ||
      b.totalDecodeTokensPerSecond - a.totalDecodeTokensPerSecond,
  );
}
