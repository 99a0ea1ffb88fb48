/**
 * Turns the request records of one step into the results schema's BenchStep: throughputs, goodput,
 * latency summaries (TTFT, TPOT, ITL, E2EL in ms), errors by kind and vLLM's per-request arrays. Pure.
 */
import type { BenchStep, LatencyFieldName, LatencyMetricName } from '../spec/bench-result.js';
import { meetsSlo, timePerOutputTokenS, type RequestRecord, type Slo } from './request-record.js';
import { maxPerSecond, summarize } from './statistics.js';

export interface StepSetup {
  label: string;
  maxConcurrency: number | null;
  requestRate: number | null;
  arrival: 'poisson' | 'constant' | null;
  slo: Slo;
}

function latencyFields(metric: LatencyMetricName, valuesS: number[]): Record<string, number | null> {
  const s = summarize(valuesS, 1000);
  return {
    [`mean_${metric}_ms`]: s.mean,
    [`median_${metric}_ms`]: s.median,
    [`std_${metric}_ms`]: s.std,
    [`p50_${metric}_ms`]: s.p50,
    [`p90_${metric}_ms`]: s.p90,
    [`p99_${metric}_ms`]: s.p99,
  };
}

/** Most requests in flight at once, from their [start, end] intervals. */
export function maxConcurrent(records: readonly RequestRecord[]): number {
  const events = records.flatMap((r) => [
    [r.startS, 1],
    [r.endS, -1],
  ]) as [number, number][];
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let best = 0;
  for (const [, delta] of events) {
    current += delta;
    best = Math.max(best, current);
  }
  return best;
}

/** The step's results; `durationS` is the step's wall time (first start to last end). */
export function stepMetrics(
  setup: StepSetup,
  records: readonly RequestRecord[],
  durationS: number,
): BenchStep {
  const ok = records.filter((r) => r.ok);
  const hasSlo = setup.slo.ttftMs !== null || setup.slo.tpotMs !== null;
  const met = records.map((r) => meetsSlo(r, setup.slo));
  const good = met.filter(Boolean).length;
  const totalInput = ok.reduce((sum, r) => sum + r.inputTokens, 0);
  const totalOutput = ok.reduce((sum, r) => sum + r.outputTokens, 0);
  const perSecond = (n: number) => (durationS > 0 ? n / durationS : 0);
  const errorsByKind: Record<string, number> = {};
  for (const r of records)
    if (!r.ok) errorsByKind[r.errorKind ?? 'other'] = (errorsByKind[r.errorKind ?? 'other'] ?? 0) + 1;
  const sources = new Set(ok.map((r) => r.tokenSource));
  const tpots = ok.map(timePerOutputTokenS).filter((t): t is number => t !== null);
  const latency = {
    ...latencyFields(
      'ttft',
      ok.map((r) => r.ttftS),
    ),
    ...latencyFields('tpot', tpots),
    ...latencyFields(
      'itl',
      ok.flatMap((r) => r.itlsS),
    ),
    ...latencyFields(
      'e2el',
      ok.map((r) => r.endS - r.startS),
    ),
  } as Record<LatencyFieldName, number | null>;
  return {
    label: setup.label,
    max_concurrency: setup.maxConcurrency,
    request_rate: setup.requestRate,
    arrival: setup.arrival,
    duration: durationS,
    completed: ok.length,
    failed: records.length - ok.length,
    total_input_tokens: totalInput,
    total_output_tokens: totalOutput,
    request_throughput: perSecond(ok.length),
    request_goodput: hasSlo ? perSecond(good) : null,
    goodput_share: hasSlo ? (records.length > 0 ? good / records.length : 0) : null,
    output_throughput: perSecond(totalOutput),
    total_token_throughput: perSecond(totalInput + totalOutput),
    max_output_tokens_per_s: maxPerSecond(
      ok.flatMap((r) => r.chunkTimesS),
      0,
    ),
    max_concurrent_requests: maxConcurrent(records),
    ...latency,
    errors_by_kind: errorsByKind,
    token_count_source: sources.size > 1 ? 'mixed' : sources.has('chunks') ? 'chunks' : 'usage',
    input_lens: records.map((r) => (r.ok ? r.inputTokens : 0)),
    output_lens: records.map((r) => (r.ok ? r.outputTokens : 0)),
    ttfts: records.map((r) => (r.ok ? r.ttftS : 0)),
    itls: records.map((r) => (r.ok ? r.itlsS : [])),
    e2els: records.map((r) => (r.ok ? r.endS - r.startS : 0)),
    start_times: records.map((r) => r.startS),
    slo_met: met,
    generated_texts: records.map((r) => r.text),
    errors: records.map((r) => r.error),
  };
}
