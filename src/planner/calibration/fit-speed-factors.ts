import { estimateMemory } from '../estimate-memory.js';
import { decodeStepSeconds, prefillTokensPerSecond } from '../estimate-speed.js';
import { inputFromIds } from '../estimate-input.js';
import {
  fittedFactorBounds,
  getFactor,
  speedFactorPriors,
  withFactor,
  type SpeedFactors,
} from '../speed-factors.js';
import type { CalibrationCase } from './calibration-cases.js';

/** Weight of the pull toward the priors: with few measurements per factor, stay near physics. */
export const defaultPriorWeight = 1;

/** The planner's prediction for a calibration case (decode: tokens/s per stream; prefill: tokens/s). */
export function predictCase(testCase: CalibrationCase, factors: SpeedFactors): number {
  const input = inputFromIds({
    model: testCase.modelId,
    quant: testCase.quantId,
    engine: testCase.engineId,
    hardware: testCase.hardwareId,
    count: testCase.count,
    batch: testCase.batch,
    contextTokens: Math.max(testCase.contextTokens, 1),
    promptTokens: testCase.kind === 'prefill' ? testCase.contextTokens : 1,
    outputTokens: 1,
    ...(testCase.host ? { host: { hardware: testCase.host.hardwareId, count: testCase.host.count } } : {}),
  });
  if (testCase.kind === 'prefill') return prefillTokensPerSecond(input, testCase.contextTokens, factors);
  const offloaded = estimateMemory(input).offloadedBytes;
  return 1 / decodeStepSeconds(input, testCase.batch, testCase.contextTokens, offloaded, factors);
}

/** |predicted − measured| / measured. */
export function relativeError(testCase: CalibrationCase, factors: SpeedFactors): number {
  return Math.abs(predictCase(testCase, factors) - testCase.measured) / testCase.measured;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Sum of |log(predicted / measured)|: robust, and symmetric in over- and under-prediction. */
function loss(cases: readonly CalibrationCase[], factors: SpeedFactors, priorWeight: number): number {
  let total = 0;
  for (const testCase of cases) {
    total += Math.abs(Math.log(predictCase(testCase, factors) / testCase.measured));
  }
  return total + priorWeight * priorDistance(factors);
}

/** How far the fitted efficiencies moved from the priors (speedFactorPriors), in |log| units. */
function priorDistance(factors: SpeedFactors): number {
  let total = 0;
  for (const path of Object.keys(fittedFactorBounds)) {
    if (path.includes('Seconds')) continue;
    total += Math.abs(Math.log(getFactor(factors, path) / getFactor(speedFactorPriors, path)));
  }
  return total;
}

/** The grid a factor is searched on: steps of 0.01 for efficiencies, 5 µs for overheads. */
function grid(path: string): number[] {
  const [low, high] = fittedFactorBounds[path]!;
  const step = high <= 1 && !path.includes('Seconds') ? 0.01 : 5e-6;
  const values: number[] = [];
  for (let i = 0; low + i * step <= high + 1e-12; i++) values.push(Number((low + i * step).toPrecision(6)));
  return values;
}

/**
 * Fits the speed factors to measured cases by coordinate descent on fixed grids: each round tries every grid
 * value of each factor and keeps the best; a factor moves only on a strict improvement (so factors no case
 * depends on keep their starting value). The loss is the sum of |log(predicted / measured)| plus
 * `priorWeight` × the efficiencies' |log| distance from speedFactorPriors, which keeps factors that only one or
 * two rows inform near physical values. Deterministic, so the shipped factors can be checked against it.
 */
export function fitSpeedFactors(
  cases: readonly CalibrationCase[],
  priorWeight = defaultPriorWeight,
  start: SpeedFactors = speedFactorPriors,
  maxRounds = 12,
): SpeedFactors {
  let factors = start;
  let best = loss(cases, factors, priorWeight);
  for (let round = 0; round < maxRounds; round++) {
    let improved = false;
    for (const path of Object.keys(fittedFactorBounds)) {
      for (const value of grid(path)) {
        if (value === getFactor(factors, path)) continue;
        const candidate = withFactor(factors, path, value);
        const candidateLoss = loss(cases, candidate, priorWeight);
        if (candidateLoss < best - 1e-12) {
          best = candidateLoss;
          factors = candidate;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return factors;
}

/** Leave-one-source-out: each source's cases predicted by factors fitted without that source. */
export function leaveOneSourceOut(
  cases: readonly CalibrationCase[],
  priorWeight = defaultPriorWeight,
): Map<CalibrationCase, number> {
  const predictions = new Map<CalibrationCase, number>();
  for (const source of new Set(cases.map((testCase) => testCase.source))) {
    const factors = fitSpeedFactors(
      cases.filter((testCase) => testCase.source !== source),
      priorWeight,
    );
    for (const testCase of cases.filter((c) => c.source === source)) {
      predictions.set(testCase, predictCase(testCase, factors));
    }
  }
  return predictions;
}
