/**
 * The single-stream decode speed a bench run measured: 1000 / median TPOT of the step that kept one request
 * in flight (`--concurrency 1`, or any step whose most concurrent requests was 1). This is the number
 * `edgefleet calibrate` compares with the planner's batch-1 estimate.
 */
import type { BenchResult, BenchStep } from '../../spec/bench-result.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

export interface SingleStreamSpeed {
  tokensPerSecond: number;
  medianTpotMs: number;
  /** Index into `results.steps`. */
  step: number;
  label: string;
  /** Mean prompt and output tokens of the step's successful requests (the workload to estimate at). */
  promptTokens: number;
  outputTokens: number;
}

function meanOfSuccesses(step: BenchStep, values: readonly number[]): number {
  const kept = values.filter((_, i) => (step.errors[i] ?? '') === '');
  return kept.length === 0 ? 0 : kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** Finds the single-stream step and its decode speed; explains what to run when there is none. */
export function singleStreamSpeed(results: BenchResult): SingleStreamSpeed {
  const index = results.steps.findIndex(
    (step) =>
      (step.max_concurrency === 1 || (step.max_concurrency === null && step.max_concurrent_requests === 1)) &&
      step.completed > 0 &&
      step.median_tpot_ms !== null &&
      step.median_tpot_ms > 0,
  );
  const step = results.steps[index];
  if (step === undefined || step.median_tpot_ms === null) {
    const labels = results.steps.map((s) => s.label).join(', ') || 'none';
    throw new EdgeFleetError(
      'invalid_argument',
      `the results have no single-stream step with completed requests and a TPOT (steps: ${labels}); run \`edgefleet bench --concurrency 1 ...\` with an output of at least 2 tokens`,
      { param: 'from' },
    );
  }
  return {
    tokensPerSecond: 1000 / step.median_tpot_ms,
    medianTpotMs: step.median_tpot_ms,
    step: index,
    label: step.label,
    promptTokens: Math.round(meanOfSuccesses(step, step.input_lens)),
    outputTokens: Math.max(1, Math.round(meanOfSuccesses(step, step.output_lens))),
  };
}
