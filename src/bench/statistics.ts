/**
 * Pure summary statistics for bench results, computed the way vLLM's benchmark_serving computes them
 * (numpy): the mean, the population standard deviation (ddof 0) and percentiles by linear interpolation
 * between the closest ranks (numpy's default "linear" method).
 */

/** The mean of `values`, or null for none. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** The population standard deviation (numpy.std, ddof 0), or null for none. */
export function standardDeviation(values: readonly number[]): number | null {
  const m = mean(values);
  if (m === null) return null;
  let squares = 0;
  for (const v of values) squares += (v - m) ** 2;
  return Math.sqrt(squares / values.length);
}

/** The `p`-th percentile (0..100) with numpy's linear interpolation, or null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low]!;
  return lowValue + (sorted[high]! - lowValue) * (rank - low);
}

export interface Summary {
  mean: number | null;
  median: number | null;
  std: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** Mean, median, standard deviation and p50/p90/p99 of `values`, each multiplied by `scale` (e.g. 1000 for s → ms). */
export function summarize(values: readonly number[], scale = 1): Summary {
  const scaled = scale === 1 ? values : values.map((v) => v * scale);
  const median = percentile(scaled, 50);
  return {
    mean: mean(scaled),
    median,
    std: standardDeviation(scaled),
    p50: median,
    p90: percentile(scaled, 90),
    p99: percentile(scaled, 99),
  };
}

/**
 * The most events in any one whole second, counting from `startS` (vLLM's max_output_tokens_per_s buckets
 * token arrival times into 1 s bins). `times` are seconds on the same clock as `startS`.
 */
export function maxPerSecond(times: readonly number[], startS: number): number {
  const bins = new Map<number, number>();
  let best = 0;
  for (const t of times) {
    const bin = Math.floor(t - startS);
    const count = (bins.get(bin) ?? 0) + 1;
    bins.set(bin, count);
    if (count > best) best = count;
  }
  return best;
}
