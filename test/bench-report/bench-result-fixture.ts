/**
 * Builds `edgefleet bench` results that parse with the schema in src/spec/bench-result.ts: a concurrency
 * sweep whose per-request arrays are generated deterministically and whose summaries are computed from them.
 */
import {
  BENCH_RESULT_SCHEMA_VERSION,
  benchResultSchema,
  type BenchResult,
  type BenchStep,
} from '../../src/spec/bench-result.js';

/** A small deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** mean/median/std/p50/p90/p99 in ms of values in seconds (null when empty). */
function stats(name: string, seconds: readonly number[]): Record<string, number | null> {
  const ms = seconds.map((s) => s * 1000).sort((a, b) => a - b);
  const mean = ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : null;
  const std =
    mean === null ? null : Math.sqrt(ms.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, ms.length));
  const pick = (p: number): number | null => (ms.length ? percentile(ms, p) : null);
  return {
    [`mean_${name}_ms`]: mean,
    [`median_${name}_ms`]: pick(50),
    [`std_${name}_ms`]: std,
    [`p50_${name}_ms`]: pick(50),
    [`p90_${name}_ms`]: pick(90),
    [`p99_${name}_ms`]: pick(99),
  };
}

export interface StepOptions {
  concurrency: number;
  requests?: number;
  /** Seconds per output token for one stream (grows with concurrency below). */
  tpotSeconds?: number;
  promptTokens?: number;
  outputTokens?: number;
  /** Requests that fail, with their kind and message. */
  failures?: { kind: string; message: string }[];
  seed?: number;
}

/** One concurrency step: every request decodes `outputTokens` tokens; TPOT rises with concurrency. */
export function makeStep(options: StepOptions): BenchStep {
  const { concurrency, requests = 24, promptTokens = 128, outputTokens = 64, failures = [] } = options;
  const rand = random(options.seed ?? concurrency * 7919);
  const baseTpot = (options.tpotSeconds ?? 0.025) * (1 + 0.18 * (concurrency - 1));
  const sent = requests + failures.length;
  const step = {
    input_lens: [] as number[],
    output_lens: [] as number[],
    ttfts: [] as number[],
    itls: [] as number[][],
    e2els: [] as number[],
    start_times: [] as number[],
    slo_met: [] as boolean[],
    generated_texts: [] as string[],
    errors: [] as string[],
  };
  const tpots: number[] = [];
  let clock = 0;
  for (let i = 0; i < sent; i++) {
    const failure = i >= requests ? failures[i - requests] : undefined;
    step.start_times.push(clock);
    if (failure) {
      step.input_lens.push(0);
      step.output_lens.push(0);
      step.ttfts.push(0);
      step.itls.push([]);
      step.e2els.push(0);
      step.slo_met.push(false);
      step.generated_texts.push('');
      step.errors.push(failure.message);
      continue;
    }
    const ttft = 0.08 * (1 + 0.5 * (concurrency - 1)) * (0.7 + 0.6 * rand());
    const itls = Array.from({ length: outputTokens - 1 }, () => baseTpot * (0.85 + 0.3 * rand()));
    const decode = itls.reduce((a, b) => a + b, 0);
    step.input_lens.push(promptTokens);
    step.output_lens.push(outputTokens);
    step.ttfts.push(ttft);
    step.itls.push(itls);
    step.e2els.push(ttft + decode);
    step.slo_met.push(ttft < 0.25);
    step.generated_texts.push('ok');
    step.errors.push('');
    tpots.push(decode / (outputTokens - 1));
    clock += (ttft + decode) / concurrency;
  }
  const duration = Math.max(...step.start_times.map((t, i) => t + step.e2els[i]!));
  const errorsByKind: Record<string, number> = {};
  for (const f of failures) errorsByKind[f.kind] = (errorsByKind[f.kind] ?? 0) + 1;
  const ok = step.errors.filter((e) => e === '').length;
  const inputTokens = step.input_lens.reduce((a, b) => a + b, 0);
  const outputTokensTotal = step.output_lens.reduce((a, b) => a + b, 0);
  const successes = (values: number[]): number[] => values.filter((_, i) => step.errors[i] === '');
  return {
    label: `concurrency ${concurrency}`,
    max_concurrency: concurrency,
    request_rate: null,
    arrival: null,
    duration,
    completed: ok,
    failed: failures.length,
    total_input_tokens: inputTokens,
    total_output_tokens: outputTokensTotal,
    request_throughput: ok / duration,
    request_goodput: step.slo_met.filter(Boolean).length / duration,
    goodput_share: step.slo_met.filter(Boolean).length / sent,
    output_throughput: outputTokensTotal / duration,
    total_token_throughput: (inputTokens + outputTokensTotal) / duration,
    max_output_tokens_per_s: (outputTokensTotal / duration) * 1.2,
    max_concurrent_requests: concurrency,
    ...stats('ttft', successes(step.ttfts)),
    ...stats('tpot', tpots),
    ...stats('itl', step.itls.flat()),
    ...stats('e2el', successes(step.e2els)),
    errors_by_kind: errorsByKind,
    token_count_source: 'usage',
    ...step,
  } as BenchStep;
}

/** A full results file for a concurrency sweep (validated against the schema). */
export function makeResults(
  options: { model?: string; concurrency?: number[]; steps?: BenchStep[]; tpotSeconds?: number } = {},
): BenchResult {
  const concurrency = options.concurrency ?? [1, 2, 4, 8];
  const steps =
    options.steps ??
    concurrency.map((c) =>
      makeStep({ concurrency: c, ...(options.tpotSeconds ? { tpotSeconds: options.tpotSeconds } : {}) }),
    );
  const model = options.model ?? 'deepseek-r1-distill-qwen-1.5b';
  return benchResultSchema.parse({
    schema_version: BENCH_RESULT_SCHEMA_VERSION,
    date: '2026-11-29T06:00:00.000Z',
    edgefleet_version: '0.1.0',
    model_id: model,
    config: {
      url: 'http://127.0.0.1:18099/v1',
      model,
      api_key_set: false,
      endpoint: 'chat',
      mode: 'concurrency',
      concurrency,
      rates: null,
      arrival: null,
      requests: 24,
      duration_s: null,
      prompt_tokens: { kind: 'fixed', tokens: 128 },
      output_tokens: { kind: 'fixed', tokens: 64 },
      dataset: null,
      shared_prefix_tokens: 0,
      slo_ttft_ms: 250,
      slo_tpot_ms: null,
      ignore_eos: true,
      seed: 1,
      find_max_rate: false,
      tokenizer: 'usage-probe',
      template_overhead_tokens: 9,
      probe_requests: 2,
      probe_input_tokens: 40,
      probe_output_tokens: 2,
      request_timeout_s: 600,
    },
    steps,
    max_rate: null,
  });
}
