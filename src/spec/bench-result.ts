/**
 * The results file of `edgefleet bench` (`--out results.json`), read by the HTML report and by
 * `edgefleet calibrate`. One file holds the configuration and one step per sweep point (each
 * `--concurrency` or `--rate` value, and every rate tried by `--find-max-rate`).
 *
 * Field names follow vLLM's benchmarks/benchmark_serving.py where they overlap (duration, completed,
 * total_input_tokens, request_throughput, mean_ttft_ms, p99_tpot_ms, ttfts, itls, ...), with its units:
 * the `*_ms` summaries are milliseconds, the per-request arrays `ttfts`, `itls`, `e2els` are seconds and
 * `duration` is seconds. Percentiles are p50, p90, p99 (`median_*` equals `p50_*`).
 *
 * Stability: `schema_version` 1; later changes only add optional fields. Readers parse with these
 * schemas (unknown fields are dropped, not refused).
 */
import { z } from 'zod';

export const BENCH_RESULT_SCHEMA_VERSION = 1;

/** How many tokens a request's prompt or output has: fixed, uniform in [min, max], or normal (clamped ≥ 1). */
export const tokenDistributionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), tokens: z.number().int().min(1) }),
  z.object({ kind: z.literal('uniform'), min: z.number().int().min(1), max: z.number().int().min(1) }),
  z.object({ kind: z.literal('normal'), mean: z.number().min(1), std: z.number().min(0) }),
]);
export type TokenDistribution = z.infer<typeof tokenDistributionSchema>;

/**
 * Error kinds counted per step: `connection` (refused, reset, DNS), `timeout` (no answer within the
 * request timeout), `http_4xx`, `http_429`, `http_5xx`, `stream` (an error event or malformed SSE inside a
 * 200 stream), `incomplete` (the stream ended without `[DONE]` / finish_reason), `other`.
 */
export const benchErrorKinds = [
  'connection',
  'timeout',
  'http_4xx',
  'http_429',
  'http_5xx',
  'stream',
  'incomplete',
  'other',
] as const;
export type BenchErrorKind = (typeof benchErrorKinds)[number];

export const latencyMetricNames = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type LatencyMetricName = (typeof latencyMetricNames)[number];
export const latencyStatNames = ['mean', 'median', 'std', 'p50', 'p90', 'p99'] as const;
export type LatencyStatName = (typeof latencyStatNames)[number];
/** `mean_ttft_ms`, `p99_itl_ms`, ... */
export type LatencyFieldName = `${LatencyStatName}_${LatencyMetricName}_ms`;

/** The summary statistics of every latency metric, in milliseconds (null when no request produced a value). */
const latencyFields = Object.fromEntries(
  latencyMetricNames.flatMap((metric) =>
    latencyStatNames.map((stat) => [`${stat}_${metric}_ms`, z.number().nullable()]),
  ),
) as Record<LatencyFieldName, z.ZodNullable<z.ZodNumber>>;

/** One step of a sweep: one concurrency or one request rate, run until its request count or duration. */
export const benchStepSchema = z.object({
  /** Human label: "concurrency 4", "rate 2/s". */
  label: z.string(),
  /** Concurrency mode: the number of requests kept in flight; null in rate mode. */
  max_concurrency: z.number().int().min(1).nullable(),
  /** Rate mode: requests started per second; null in concurrency mode. */
  request_rate: z.number().positive().nullable(),
  arrival: z.enum(['poisson', 'constant']).nullable(),
  /** Seconds from the first request's start to the last request's end. */
  duration: z.number().min(0),
  /** Requests that finished successfully. */
  completed: z.number().int().min(0),
  /** Requests that failed (any error kind). */
  failed: z.number().int().min(0),
  total_input_tokens: z.number().int().min(0),
  total_output_tokens: z.number().int().min(0),
  /** Completed requests per second. */
  request_throughput: z.number().min(0),
  /** Requests per second that completed within the SLO (null without --slo-ttft-ms/--slo-tpot-ms). */
  request_goodput: z.number().min(0).nullable(),
  /** Share (0..1) of all sent requests that completed within the SLO (null without an SLO). */
  goodput_share: z.number().min(0).max(1).nullable(),
  /** Output tokens per second. */
  output_throughput: z.number().min(0),
  /** Input + output tokens per second. */
  total_token_throughput: z.number().min(0),
  /** Most output tokens in any one second of the step (vLLM's max_output_tokens_per_s). */
  max_output_tokens_per_s: z.number().min(0),
  /** Most requests in flight at once. */
  max_concurrent_requests: z.number().int().min(0),
  ...latencyFields,
  /** Failed requests by kind (only kinds that occurred). */
  errors_by_kind: z.record(z.string(), z.number().int().min(1)),
  /** Where token counts came from: the engine's `usage`, or counted stream chunks (one token each). */
  token_count_source: z.enum(['usage', 'chunks', 'mixed']),
  // Per-request arrays, all of the same length (one entry per sent request, in start order).
  /** Prompt tokens per request (0 for a request that failed before usage was known). */
  input_lens: z.array(z.number().int().min(0)),
  /** Output tokens per request. */
  output_lens: z.array(z.number().int().min(0)),
  /** Time to first token per request, seconds (0 for failed requests). */
  ttfts: z.array(z.number().min(0)),
  /** Inter-token latencies per request, seconds. */
  itls: z.array(z.array(z.number().min(0))),
  /** End-to-end latency per request, seconds (0 for failed requests). */
  e2els: z.array(z.number().min(0)),
  /** Seconds from the step's start to each request's start. */
  start_times: z.array(z.number().min(0)),
  /** Whether each request met the SLO (all true without an SLO, false for failed requests). */
  slo_met: z.array(z.boolean()),
  generated_texts: z.array(z.string()),
  /** Error message per request ("" for a success). */
  errors: z.array(z.string()),
});
export type BenchStep = z.infer<typeof benchStepSchema>;

/** One rate tried by `--find-max-rate`, and whether it met the SLO. */
export const maxRateProbeSchema = z.object({
  request_rate: z.number().positive(),
  goodput_share: z.number().min(0).max(1),
  met: z.boolean(),
  /** Index into `steps`. */
  step: z.number().int().min(0),
});

export const maxRateResultSchema = z.object({
  /** Highest request rate found that met the SLO (null when even the lowest tried did not). */
  request_rate: z.number().positive().nullable(),
  /** A run meets the SLO when at least this share of its requests do (default 0.9). */
  min_goodput_share: z.number().min(0).max(1),
  probes: z.array(maxRateProbeSchema),
});

/** What was run: the flags, resolved (the API key itself is never written). */
export const benchConfigSchema = z.object({
  url: z.string(),
  model: z.string(),
  api_key_set: z.boolean(),
  /** Which OpenAI API was called. */
  endpoint: z.enum(['chat', 'completions']),
  mode: z.enum(['concurrency', 'rate']),
  concurrency: z.array(z.number().int().min(1)).nullable(),
  rates: z.array(z.number().positive()).nullable(),
  arrival: z.enum(['poisson', 'constant']).nullable(),
  /** Requests per step (null: bounded by duration only). */
  requests: z.number().int().min(1).nullable(),
  /** Seconds per step (null: bounded by request count only). */
  duration_s: z.number().positive().nullable(),
  prompt_tokens: tokenDistributionSchema.nullable(),
  output_tokens: tokenDistributionSchema.nullable(),
  /** The JSONL dataset used instead of synthetic prompts (its path as given). */
  dataset: z.string().nullable(),
  shared_prefix_tokens: z.number().int().min(0),
  slo_ttft_ms: z.number().positive().nullable(),
  slo_tpot_ms: z.number().positive().nullable(),
  ignore_eos: z.boolean(),
  seed: z.number().int(),
  find_max_rate: z.boolean(),
  /**
   * How prompts were sized: `usage-probe` (token counts calibrated against the engine's usage.prompt_tokens
   * before the run) or `none` (dataset prompts sent as they are).
   */
  tokenizer: z.enum(['usage-probe', 'none']),
  /** Fixed prompt-token overhead of the chat template the probe measured (null without probing). */
  template_overhead_tokens: z.number().int().nullable(),
  /** Probe requests sent before the steps to size prompts, and the tokens the engine counted for them. */
  probe_requests: z.number().int().min(0),
  probe_input_tokens: z.number().int().min(0),
  probe_output_tokens: z.number().int().min(0),
  /** Whether the prompt sizing was verified exact (usage-probe found one-token filler words). */
  prompt_sizing_exact: z.boolean().optional(),
  /** Per-request timeout, seconds. */
  request_timeout_s: z.number().positive(),
});
export type BenchConfig = z.infer<typeof benchConfigSchema>;

export const benchResultSchema = z.object({
  schema_version: z.literal(BENCH_RESULT_SCHEMA_VERSION),
  /** vLLM's `date`: when the run started, ISO 8601. */
  date: z.string(),
  edgefleet_version: z.string(),
  /** vLLM's model_id. */
  model_id: z.string(),
  config: benchConfigSchema,
  steps: z.array(benchStepSchema),
  /** Present with --find-max-rate. */
  max_rate: maxRateResultSchema.nullable(),
});
export type BenchResult = z.infer<typeof benchResultSchema>;

/** Parses a results file's JSON (as written by `edgefleet bench --out`). */
export function parseBenchResult(json: unknown): BenchResult {
  return benchResultSchema.parse(json);
}
