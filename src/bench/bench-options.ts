/**
 * Turns `edgefleet bench`'s raw flag values into validated BenchOptions (without the dataset's contents,
 * which the CLI reads): exactly one of --concurrency / --rate (unless --find-max-rate), a request count or a
 * duration, SLO limits, token distributions. Pure: every mistake is an `invalid_argument` naming its flag.
 */
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { BenchOptions } from './run-bench.js';
import { parseTokenDistribution } from './token-distribution.js';

export interface BenchFlagValues {
  url?: string;
  model?: string;
  'api-key'?: string;
  api?: string;
  concurrency?: string;
  rate?: string;
  arrival?: string;
  requests?: string;
  duration?: string;
  'prompt-tokens'?: string;
  'output-tokens'?: string;
  dataset?: string;
  'shared-prefix-tokens'?: string;
  'slo-ttft-ms'?: string;
  'slo-tpot-ms'?: string;
  'find-max-rate'?: boolean;
  'min-goodput'?: string;
  'no-ignore-eos'?: boolean;
  seed?: string;
  'timeout-s'?: string;
}

export type ParsedBenchOptions = Omit<BenchOptions, 'dataset' | 'version' | 'onProgress' | 'onStepDone'> & {
  datasetPath: string | null;
};

function bad(flag: string, message: string): never {
  throw new EdgeFleetError('invalid_argument', `--${flag} ${message}`, { param: flag });
}

function positive(value: string | undefined, flag: string, integer: boolean): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    bad(flag, `must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`);
  }
  return n;
}

function list(value: string | undefined, flag: string, integer: boolean): number[] | null {
  if (value === undefined) return null;
  const values = value.split(',').map((part) => positive(part.trim(), flag, integer)!);
  if (values.length === 0) bad(flag, 'needs at least one value');
  return values;
}

export function parseBenchOptions(
  v: BenchFlagValues,
  env: Record<string, string | undefined> = {},
): ParsedBenchOptions {
  if (!v.url) bad('url', 'is required (the OpenAI-compatible base URL, e.g. http://127.0.0.1:8080)');
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(v.url);
  } catch {
    bad('url', `is not a URL: "${v.url}"`);
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:')
    bad('url', 'must be http:// or https://');
  if (!v.model) bad('model', 'is required (the model name the endpoint serves)');
  const concurrency = list(v.concurrency, 'concurrency', true);
  const rates = list(v.rate, 'rate', false);
  const findMaxRate = v['find-max-rate'] === true;
  if (concurrency && rates) bad('rate', 'and --concurrency exclude each other');
  if (findMaxRate && concurrency) bad('find-max-rate', 'searches request rates; drop --concurrency');
  const requests = positive(v.requests, 'requests', true);
  const durationS = positive(v.duration, 'duration', false);
  if (requests === null && durationS === null)
    bad('requests', 'or --duration is required (every run is bounded)');
  const slo = {
    ttftMs: positive(v['slo-ttft-ms'], 'slo-ttft-ms', false),
    tpotMs: positive(v['slo-tpot-ms'], 'slo-tpot-ms', false),
  };
  if (findMaxRate && slo.ttftMs === null && slo.tpotMs === null) {
    bad('find-max-rate', 'needs --slo-ttft-ms and/or --slo-tpot-ms');
  }
  const arrival = v.arrival ?? 'poisson';
  if (arrival !== 'poisson' && arrival !== 'constant')
    bad('arrival', `must be poisson or constant, got "${arrival}"`);
  if (v.arrival !== undefined && !rates && !findMaxRate)
    bad('arrival', 'applies only with --rate or --find-max-rate');
  const api = v.api ?? 'chat';
  if (api !== 'chat' && api !== 'completions') bad('api', `must be chat or completions, got "${api}"`);
  const datasetPath = v.dataset ?? null;
  if (datasetPath !== null && v['prompt-tokens'] !== undefined)
    bad('prompt-tokens', 'and --dataset exclude each other');
  const sharedPrefix =
    v['shared-prefix-tokens'] === undefined
      ? 0
      : positive(v['shared-prefix-tokens'], 'shared-prefix-tokens', true)!;
  if (datasetPath !== null && sharedPrefix > 0)
    bad('shared-prefix-tokens', 'applies to synthetic prompts, not --dataset');
  const minGoodput = v['min-goodput'] === undefined ? 0.9 : positive(v['min-goodput'], 'min-goodput', false)!;
  if (minGoodput > 1) bad('min-goodput', 'is a share from 0 to 1');
  const seed = v.seed === undefined ? 0 : Number(v.seed);
  if (!Number.isSafeInteger(seed)) bad('seed', `must be an integer, got "${v.seed}"`);
  const promptTokens =
    datasetPath !== null ? null : parseTokenDistribution(v['prompt-tokens'] ?? '256', 'prompt-tokens');
  if (promptTokens && sharedPrefix > 0) {
    const smallest =
      promptTokens.kind === 'fixed'
        ? promptTokens.tokens
        : promptTokens.kind === 'uniform'
          ? promptTokens.min
          : 1;
    if (smallest <= sharedPrefix)
      bad('shared-prefix-tokens', `must be below the prompt length (${smallest})`);
  }
  return {
    url: v.url,
    model: v.model,
    apiKey: v['api-key'] ?? env['EDGEFLEET_BENCH_API_KEY'] ?? null,
    api,
    concurrency: rates || findMaxRate ? null : (concurrency ?? [1]),
    rates,
    arrival,
    requests,
    durationS,
    promptTokens,
    outputTokens:
      v['output-tokens'] !== undefined
        ? parseTokenDistribution(v['output-tokens'], 'output-tokens')
        : datasetPath !== null
          ? null
          : { kind: 'fixed', tokens: 128 },
    datasetPath,
    sharedPrefixTokens: sharedPrefix,
    slo,
    ignoreEos: v['no-ignore-eos'] !== true,
    seed,
    findMaxRate,
    minGoodputShare: minGoodput,
    requestTimeoutS: positive(v['timeout-s'], 'timeout-s', false) ?? 300,
  };
}
