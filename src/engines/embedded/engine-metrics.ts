import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const tokenGapBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.5];

/**
 * The embedded engine's Prometheus metrics. Names follow Prometheus conventions with the
 * `edgefleet_engine_` prefix; docs/api.md lists them next to vLLM's and llama-server's equivalents.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly requestsRunning: Gauge;
  readonly requestsWaiting: Gauge;
  readonly kvCacheUsage: Gauge;
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly cachedPromptTokens: Counter;
  readonly requests: Counter<'endpoint' | 'finish_reason'>;
  readonly errors: Counter<'code'>;
  readonly timeToFirstToken: Histogram;
  readonly interTokenLatency: Histogram;
  readonly requestDuration: Histogram;

  private probes: RuntimeProbes = { kvUsage: () => 0, prefillChunk: () => 0 };

  constructor(modelId: string) {
    this.registry.setDefaultLabels({ model: modelId });
    collectDefaultMetrics({ register: this.registry, prefix: 'edgefleet_engine_process_' });
    const registers = [this.registry];
    this.requestsRunning = new Gauge({
      name: 'edgefleet_engine_requests_running',
      help: 'Requests generating in a slot now',
      registers,
    });
    this.requestsWaiting = new Gauge({
      name: 'edgefleet_engine_requests_waiting',
      help: 'Requests waiting for a free slot',
      registers,
    });
    const probes = () => this.probes;
    this.kvCacheUsage = new Gauge({
      name: 'edgefleet_engine_kv_cache_usage_ratio',
      help: 'Share of KV-cache cells held by running requests (0-1)',
      registers,
      collect() {
        this.set(probes().kvUsage());
      },
    });
    new Gauge({
      name: 'edgefleet_engine_prefill_chunk_tokens',
      help: 'Prompt tokens per decode step while other requests generate (chunked prefill: --prefill-chunk, or auto)',
      registers,
      collect() {
        this.set(probes().prefillChunk());
      },
    });
    this.promptTokens = new Counter({
      name: 'edgefleet_engine_prompt_tokens_total',
      help: 'Prompt tokens of finished requests',
      registers,
    });
    this.cachedPromptTokens = new Counter({
      name: 'edgefleet_engine_prompt_tokens_cached_total',
      help: 'Prompt tokens served from a slot cache (not evaluated again)',
      registers,
    });
    this.generationTokens = new Counter({
      name: 'edgefleet_engine_generation_tokens_total',
      help: 'Generated (completion) tokens',
      registers,
    });
    this.requests = new Counter({
      name: 'edgefleet_engine_requests_total',
      help: 'Finished requests by endpoint and finish reason (stop, length, abort, error)',
      labelNames: ['endpoint', 'finish_reason'],
      registers,
    });
    this.errors = new Counter({
      name: 'edgefleet_engine_request_errors_total',
      help: 'Requests refused or failed, by error code',
      labelNames: ['code'],
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'edgefleet_engine_time_to_first_token_seconds',
      help: 'From request arrival to the first generated text',
      buckets: latencyBuckets,
      registers,
    });
    this.interTokenLatency = new Histogram({
      name: 'edgefleet_engine_inter_token_latency_seconds',
      help: 'Time between consecutive generated tokens of one request',
      buckets: tokenGapBuckets,
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'edgefleet_engine_request_duration_seconds',
      help: 'From request arrival to the last byte',
      buckets: latencyBuckets,
      registers,
    });
  }

  /** Sets how the runtime's state (KV-cache use, the prefill chunk) is read when metrics are scraped. */
  setRuntimeProbes(probes: RuntimeProbes): void {
    this.probes = probes;
  }
}

/** What the metrics read from the loaded model's runtime at each scrape. */
export interface RuntimeProbes {
  kvUsage: () => number;
  prefillChunk: () => number;
}
