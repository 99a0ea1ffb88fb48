/**
 * `edgefleet bench` without the CLI: checks that the endpoint answers (a clear error instead of a hang),
 * sizes prompts against the engine's token counts, runs every step of the sweep (or the --find-max-rate
 * search) and assembles the results file. Sends traffic only to `<url>/v1/chat/completions` or
 * `<url>/v1/completions` of the URL given.
 */
import {
  BENCH_RESULT_SCHEMA_VERSION,
  type BenchResult,
  type BenchStep,
  type TokenDistribution,
} from '../spec/bench-result.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { DatasetEntry } from './dataset.js';
import { runStep, type StepPlan, type StepProgress } from './load-runner.js';
import { maxMetRate, nextRate, type RateProbe } from './max-rate-search.js';
import { calibratePromptSizer, type PromptSizer } from './prompt-sizer.js';
import { bodyFor, messagesFor, requestFactory, type ApiKind } from './request-factory.js';
import type { RequestRecord, Slo } from './request-record.js';
import { seededRandom } from './seeded-random.js';
import { stepMetrics } from './step-metrics.js';
import { streamRequest, type StreamOutcome } from './stream-request.js';

export interface BenchOptions {
  url: string;
  model: string;
  apiKey: string | null;
  api: ApiKind;
  concurrency: number[] | null;
  rates: number[] | null;
  arrival: 'poisson' | 'constant';
  requests: number | null;
  durationS: number | null;
  promptTokens: TokenDistribution | null;
  outputTokens: TokenDistribution | null;
  dataset: { name: string; entries: DatasetEntry[] } | null;
  sharedPrefixTokens: number;
  slo: Slo;
  ignoreEos: boolean;
  seed: number;
  findMaxRate: boolean;
  minGoodputShare: number;
  requestTimeoutS: number;
  version: string;
  onProgress?: (label: string, progress: StepProgress) => void;
  onStepDone?: (step: BenchStep) => void;
  /** Interrupts the run: no new request or step starts; the results so far are returned. */
  signal?: AbortSignal;
}

/** `<url>/v1/<path>`, accepting a URL given with or without its `/v1`. */
export function endpointUrl(url: string, api: ApiKind): string {
  const base = url.replace(/\/+$/, '');
  const v1 = /\/v1$/.test(base) ? base : `${base}/v1`;
  return `${v1}/${api === 'chat' ? 'chat/completions' : 'completions'}`;
}

/** One request record from a stream's outcome: engine usage when sent, else one token per chunk. */
export function toRecord(outcome: StreamOutcome): RequestRecord {
  const itls = outcome.chunkTimesS.slice(1).map((t, i) => t - outcome.chunkTimesS[i]!);
  return {
    startS: outcome.startS,
    endS: outcome.endS,
    ok: outcome.ok,
    errorKind: outcome.errorKind,
    error: outcome.error,
    ttftS: outcome.firstTextS === null ? 0 : outcome.firstTextS - outcome.startS,
    itlsS: itls,
    chunkTimesS: outcome.chunkTimesS,
    inputTokens: outcome.usage?.promptTokens ?? 0,
    outputTokens: outcome.usage?.completionTokens ?? outcome.chunkTimesS.length,
    tokenSource: outcome.usage ? 'usage' : 'chunks',
    text: outcome.text,
  };
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const date = new Date().toISOString();
  const url = endpointUrl(options.url, options.api);
  const clock0 = performance.now();
  const nowS = () => (performance.now() - clock0) / 1000;
  const probeTotals = { requests: 0, input: 0, output: 0 };
  let ignoreEos = options.ignoreEos;
  const send = (body: Record<string, unknown>, timeoutMs: number, clock = nowS, cancel?: AbortSignal) =>
    streamRequest({ url, body, apiKey: options.apiKey, timeoutMs, nowS: clock, ...(cancel && { cancel }) });
  // The test and sizing requests before any measured one: Ctrl-C cancels them at once.
  const probe = async (messages: { role: 'system' | 'user'; content: string }[]): Promise<StreamOutcome> => {
    const outcome = await send(
      bodyFor({ ...options, ignoreEos }, messages, 1),
      Math.min(options.requestTimeoutS, 60) * 1000,
      nowS,
      options.signal,
    );
    options.signal?.throwIfAborted();
    probeTotals.requests++;
    probeTotals.input += outcome.usage?.promptTokens ?? 0;
    probeTotals.output += outcome.usage?.completionTokens ?? 0;
    return outcome;
  };

  // Preflight: one tiny request, so that a dead or wrong endpoint fails fast with a clear message.
  let first = await probe([{ role: 'user', content: 'Hello' }]);
  if (!first.ok && first.errorKind === 'http_4xx' && ignoreEos && /ignore_eos/.test(first.errorBody)) {
    ignoreEos = false;
    first = await probe([{ role: 'user', content: 'Hello' }]);
  }
  if (!first.ok) {
    const code =
      first.status === 401 || first.status === 403
        ? 'unauthorized'
        : first.status === 0
          ? 'engine_unavailable'
          : 'engine_error';
    throw new EdgeFleetError(code, `${url} did not answer a test request: ${first.error}`, {
      data: { url, status: first.status },
    });
  }
  let sizer: PromptSizer | null = null;
  if (!options.dataset && first.usage) {
    sizer = await calibratePromptSizer(
      async (parts) => {
        const outcome = await probe(messagesFor(parts));
        if (!outcome.ok || !outcome.usage)
          throw new EdgeFleetError('engine_error', `probe request failed: ${outcome.error}`);
        return outcome.usage.promptTokens;
      },
      { sharedPrefixTokens: options.sharedPrefixTokens, seed: options.seed },
    );
  } else if (!options.dataset) {
    // No usage numbers: assume one token per word (reported as tokenizer "none").
    sizer = {
      exact: false,
      overheadTokens: 0,
      prefix: options.sharedPrefixTokens > 0 ? Array(options.sharedPrefixTokens).fill('the').join(' ') : '',
      build: (tokens) => ({ prefix: '', body: Array(Math.max(1, tokens)).fill('the').join(' ') }),
    };
  }
  const makeBody = requestFactory({
    model: options.model,
    api: options.api,
    ignoreEos,
    promptTokens: options.promptTokens,
    outputTokens: options.outputTokens,
    sizer,
    dataset: options.dataset?.entries ?? null,
  });

  const steps: BenchStep[] = [];
  const runOne = async (plan: StepPlan, label: string): Promise<BenchStep> => {
    const random = seededRandom(options.seed + steps.length * 7919);
    const bodies: Record<string, unknown>[] = [];
    const { records, durationS } = await runStep({
      plan,
      random: seededRandom(options.seed + steps.length * 7919 + 1),
      send: async (index, stepClock) => {
        bodies[index] ??= makeBody(index, random);
        return toRecord(await send(bodies[index]!, options.requestTimeoutS * 1000, stepClock));
      },
      onProgress: (progress) => options.onProgress?.(label, progress),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const step = stepMetrics(
      {
        label,
        maxConcurrency: plan.concurrency,
        requestRate: plan.rate,
        arrival: plan.rate === null ? null : plan.arrival,
        slo: options.slo,
      },
      records,
      durationS,
    );
    steps.push(step);
    options.onStepDone?.(step);
    return step;
  };
  const bounds = { maxRequests: options.requests, durationS: options.durationS, arrival: options.arrival };

  let maxRate: BenchResult['max_rate'] = null;
  if (options.findMaxRate) {
    const probes: RateProbe[] = [];
    const detail: NonNullable<BenchResult['max_rate']>['probes'] = [];
    const search = { startRate: options.rates?.[0] ?? 1 };
    const next = () => (options.signal?.aborted ? null : nextRate(probes, search));
    for (let rate = next(); rate !== null; rate = next()) {
      const step = await runOne({ ...bounds, concurrency: null, rate }, `rate ${rate}/s`);
      const share = step.goodput_share ?? 0;
      const met = share >= options.minGoodputShare;
      probes.push({ rate, met });
      detail.push({ request_rate: rate, goodput_share: share, met, step: steps.length - 1 });
    }
    maxRate = {
      request_rate: maxMetRate(probes),
      min_goodput_share: options.minGoodputShare,
      probes: detail,
    };
  } else if (options.rates) {
    for (const rate of options.rates)
      if (!options.signal?.aborted) await runOne({ ...bounds, concurrency: null, rate }, `rate ${rate}/s`);
  } else {
    for (const c of options.concurrency ?? [1])
      if (!options.signal?.aborted)
        await runOne({ ...bounds, concurrency: c, rate: null }, `concurrency ${c}`);
  }

  return {
    schema_version: BENCH_RESULT_SCHEMA_VERSION,
    date,
    edgefleet_version: options.version,
    model_id: options.model,
    config: {
      url: options.url,
      model: options.model,
      api_key_set: options.apiKey !== null,
      endpoint: options.api,
      mode: options.rates || options.findMaxRate ? 'rate' : 'concurrency',
      concurrency: options.rates || options.findMaxRate ? null : (options.concurrency ?? [1]),
      rates: options.rates,
      arrival: options.rates || options.findMaxRate ? options.arrival : null,
      requests: options.requests,
      duration_s: options.durationS,
      prompt_tokens: options.dataset ? null : options.promptTokens,
      output_tokens: options.outputTokens,
      dataset: options.dataset?.name ?? null,
      shared_prefix_tokens: options.sharedPrefixTokens,
      slo_ttft_ms: options.slo.ttftMs,
      slo_tpot_ms: options.slo.tpotMs,
      ignore_eos: ignoreEos,
      seed: options.seed,
      find_max_rate: options.findMaxRate,
      tokenizer: sizer && first.usage ? 'usage-probe' : 'none',
      template_overhead_tokens: sizer && first.usage ? sizer.overheadTokens : null,
      prompt_sizing_exact: sizer?.exact ?? false,
      probe_requests: probeTotals.requests,
      probe_input_tokens: probeTotals.input,
      probe_output_tokens: probeTotals.output,
      request_timeout_s: options.requestTimeoutS,
    },
    steps,
    max_rate: maxRate,
  };
}
