/**
 * What the inference engines call their load in Prometheus text (`GET /metrics`), and the reader that
 * turns one scrape into requests running and waiting and KV-cache use. Workers read their own engines'
 * metrics by their engine's names; the control plane reads an external endpoint's (a server a team
 * runs, engine unknown) by every engine's names.
 */
import { meanMetric, parsePrometheusText, sumMetric } from './prometheus-text.js';

export interface EngineLoad {
  requestsRunning: number;
  requestsWaiting: number;
  /** KV-cache use 0–1, or null when the engine exports no such gauge. */
  kvCacheUsage: number | null;
  promptTokensTotal?: number;
  generationTokensTotal?: number;
  /** True when the scrape held neither a running nor a waiting gauge: the zeros above are not counts. */
  queueUnknown?: true;
}

/** Which metric names carry each EngineLoad field; the first name present wins. */
export interface MetricNames {
  running: readonly string[];
  waiting: readonly string[];
  /** Gauges 0–1 (averaged over series); empty when the engine has none. */
  kvCacheUsage: readonly string[];
  promptTokens: readonly string[];
  generationTokens: readonly string[];
}

/** Each engine's names (vLLM v1 renamed its KV gauge; v0's is read too). */
export const engineMetricNames = {
  vllm: {
    running: ['vllm:num_requests_running'],
    waiting: ['vllm:num_requests_waiting'],
    kvCacheUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
    promptTokens: ['vllm:prompt_tokens_total'],
    generationTokens: ['vllm:generation_tokens_total'],
  },
  sglang: {
    running: ['sglang:num_running_reqs'],
    waiting: ['sglang:num_queue_reqs'],
    kvCacheUsage: ['sglang:token_usage'],
    promptTokens: ['sglang:prompt_tokens_total'],
    generationTokens: ['sglang:generation_tokens_total'],
  },
  llamaServer: {
    running: ['llamacpp:requests_processing'],
    waiting: ['llamacpp:requests_deferred'],
    kvCacheUsage: [],
    promptTokens: ['llamacpp:prompt_tokens_total'],
    generationTokens: ['llamacpp:tokens_predicted_total'],
  },
  mindie: {
    running: ['num_requests_running'],
    waiting: ['num_requests_waiting'],
    kvCacheUsage: ['npu_cache_usage_perc'],
    promptTokens: ['prompt_tokens_total'],
    generationTokens: ['generation_tokens_total'],
  },
  embedded: {
    running: ['edgefleet_engine_requests_running'],
    waiting: ['edgefleet_engine_requests_waiting'],
    kvCacheUsage: ['edgefleet_engine_kv_cache_usage_ratio'],
    promptTokens: ['edgefleet_engine_prompt_tokens_total'],
    generationTokens: ['edgefleet_engine_generation_tokens_total'],
  },
} as const satisfies Record<string, MetricNames>;

function first(values: readonly string[], read: (name: string) => number | null): number | null {
  for (const name of values) {
    const value = read(name);
    if (value !== null) return value;
  }
  return null;
}

/**
 * Maps one /metrics scrape to EngineLoad. Counters and queue gauges are summed over series (vLLM with
 * several engines, SGLang with several models); a missing queue gauge counts as 0. Throws
 * EdgeFleetError `engine_error` on text that is not Prometheus's.
 */
export function loadFromMetrics(text: string, names: MetricNames): EngineLoad {
  return readScrape(parsePrometheusText(text), names).load;
}

/**
 * The load of an engine whose kind is not known (an external endpoint), by the first engine whose names
 * the scrape holds; null when it holds none of them (another kind of server, a gateway) or is not
 * Prometheus text.
 */
export function loadOfAnyEngine(text: string): EngineLoad | null {
  let scrape;
  try {
    scrape = parsePrometheusText(text);
  } catch {
    return null;
  }
  for (const names of Object.values(engineMetricNames)) {
    const { load, found } = readScrape(scrape, names);
    if (found) return load;
  }
  return null;
}

function readScrape(
  scrape: ReturnType<typeof parsePrometheusText>,
  names: MetricNames,
): { load: EngineLoad; found: boolean } {
  const sum = (name: string) => sumMetric(scrape, name);
  const running = first(names.running, sum);
  const waiting = first(names.waiting, sum);
  const kv = first(names.kvCacheUsage, (name) => meanMetric(scrape, name));
  const load: EngineLoad = {
    requestsRunning: running ?? 0,
    requestsWaiting: waiting ?? 0,
    kvCacheUsage: kv === null ? null : Math.min(1, Math.max(0, kv)),
  };
  const prompt = first(names.promptTokens, sum);
  const generation = first(names.generationTokens, sum);
  if (running === null && waiting === null) load.queueUnknown = true;
  if (prompt !== null) load.promptTokensTotal = prompt;
  if (generation !== null) load.generationTokensTotal = generation;
  return { load, found: running !== null || waiting !== null || kv !== null };
}
