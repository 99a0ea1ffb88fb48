/**
 * The report's tables: the run's configuration, an overview row per step, and per step its latency
 * statistics, throughput, goodput and errors by kind. Every cell carries `data-field` so tests (and
 * scrapers) can find a number without parsing layout.
 */
import type { BenchConfig, BenchResult, BenchStep, TokenDistribution } from '../../spec/bench-result.js';
import { escapeHtml } from './html-escape.js';
import { formatShare, formatValue } from './report-format.js';

const metrics = [
  ['ttft', 'TTFT (time to first token)'],
  ['tpot', 'TPOT (time per output token)'],
  ['itl', 'ITL (inter-token latency)'],
  ['e2el', 'E2E (end-to-end latency)'],
] as const;
const stats = ['mean', 'p50', 'p90', 'p99'] as const;

function cell(field: string, text: string): string {
  return `<td data-field="${escapeHtml(field)}">${escapeHtml(text)}</td>`;
}

function distribution(d: TokenDistribution | null): string {
  if (d === null) return 'from the dataset';
  if (d.kind === 'fixed') return `${d.tokens}`;
  if (d.kind === 'uniform') return `uniform ${d.min}–${d.max}`;
  return `normal mean ${d.mean}, std ${d.std}`;
}

function promptSizing(c: BenchConfig): string {
  if (c.tokenizer === 'none') return 'dataset prompts sent as they are';
  const exact =
    c.prompt_sizing_exact === undefined ? '' : c.prompt_sizing_exact ? 'exact, ' : 'approximate, ';
  const overhead =
    c.template_overhead_tokens === null ? '' : `template ${c.template_overhead_tokens} tokens, `;
  return `against the engine's usage counts (${exact}${overhead}${c.probe_requests} probe requests)`;
}

/** What was run, as a definition list. */
export function configList(results: BenchResult): string {
  const c: BenchConfig = results.config;
  const sweep =
    c.mode === 'concurrency'
      ? `concurrency ${(c.concurrency ?? []).join(', ')}`
      : `rate ${(c.rates ?? []).join(', ')} req/s (${c.arrival ?? 'poisson'} arrivals)`;
  const slo = [
    c.slo_ttft_ms === null ? null : `TTFT ≤ ${c.slo_ttft_ms} ms`,
    c.slo_tpot_ms === null ? null : `TPOT ≤ ${c.slo_tpot_ms} ms`,
  ].filter((s) => s !== null);
  const rows: [string, string][] = [
    ['endpoint', `${c.url} (${c.endpoint})`],
    ['model', c.model],
    ['sweep', sweep + (c.find_max_rate ? ', searching the highest rate that meets the SLO' : '')],
    [
      'per step',
      [
        c.requests === null ? null : `${c.requests} requests`,
        c.duration_s === null ? null : `${c.duration_s} s`,
      ]
        .filter((s) => s !== null)
        .join(', at most '),
    ],
    ['prompt tokens', c.dataset === null ? distribution(c.prompt_tokens) : `dataset ${c.dataset}`],
    ['output tokens', distribution(c.output_tokens) + (c.ignore_eos ? ' (ignore EOS)' : '')],
    ['shared prefix', `${c.shared_prefix_tokens} tokens`],
    ['prompt sizing', promptSizing(c)],
    ['SLO', slo.length ? slo.join(', ') : 'none (goodput not computed)'],
    ['seed', String(c.seed)],
    ['EdgeFleet', results.edgefleet_version],
  ];
  return `<dl class="config">${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

/** One row per step: the headline numbers. */
export function overviewTable(steps: readonly BenchStep[]): string {
  const head = [
    'step',
    'completed',
    'failed',
    'req/s',
    'output tok/s',
    'total tok/s',
    'goodput req/s',
    'goodput share',
    'TTFT p50 ms',
    'TPOT p50 ms',
    'E2E p99 ms',
  ];
  const rows = steps.map(
    (s, i) =>
      `<tr data-step="${i}"><td class="text" data-field="label">${escapeHtml(s.label)}</td>` +
      cell('completed', String(s.completed)) +
      cell('failed', String(s.failed)) +
      cell('request_throughput', formatValue(s.request_throughput)) +
      cell('output_throughput', formatValue(s.output_throughput)) +
      cell('total_token_throughput', formatValue(s.total_token_throughput)) +
      cell('request_goodput', formatValue(s.request_goodput)) +
      cell('goodput_share', formatShare(s.goodput_share)) +
      cell('p50_ttft_ms', formatValue(s.p50_ttft_ms)) +
      cell('p50_tpot_ms', formatValue(s.p50_tpot_ms)) +
      cell('p99_e2el_ms', formatValue(s.p99_e2el_ms)) +
      `</tr>`,
  );
  return `<table class="overview"><thead><tr>${head.map((h, i) => `<th${i === 0 ? ' class="text"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** TTFT/TPOT/ITL/E2E × mean/p50/p90/p99 for one step, in ms. */
export function latencyTable(step: BenchStep): string {
  const rows = metrics.map(
    ([metric, name]) =>
      `<tr data-metric="${metric}"><th class="text">${escapeHtml(name)}</th>` +
      stats.map((stat) => cell(`${stat}_${metric}_ms`, formatValue(step[`${stat}_${metric}_ms`]))).join('') +
      `</tr>`,
  );
  return `<table class="latency"><thead><tr><th class="text">ms</th>${stats.map((s) => `<th>${s}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Throughput and goodput of one step as a two-column table. */
export function throughputTable(step: BenchStep): string {
  const rows: [string, string, string][] = [
    ['request_throughput', 'requests per second', formatValue(step.request_throughput)],
    ['output_throughput', 'output tokens per second', formatValue(step.output_throughput)],
    ['total_token_throughput', 'input + output tokens per second', formatValue(step.total_token_throughput)],
    [
      'max_output_tokens_per_s',
      'peak output tokens in one second',
      formatValue(step.max_output_tokens_per_s),
    ],
    ['request_goodput', 'goodput: requests per second within the SLO', formatValue(step.request_goodput)],
    ['goodput_share', 'share of requests within the SLO', formatShare(step.goodput_share)],
    ['max_concurrent_requests', 'most requests in flight', String(step.max_concurrent_requests)],
    ['duration', 'duration, seconds', formatValue(step.duration)],
    ['total_input_tokens', 'input tokens', String(step.total_input_tokens)],
    [
      'total_output_tokens',
      'output tokens',
      `${step.total_output_tokens} (counted from ${step.token_count_source})`,
    ],
  ];
  return `<table class="throughput"><tbody>${rows.map(([field, name, value]) => `<tr><th class="text">${escapeHtml(name)}</th>${cell(field, value)}</tr>`).join('')}</tbody></table>`;
}

/** Failed requests by kind, with up to three distinct messages seen in the step. */
export function errorsTable(step: BenchStep): string {
  const kinds = Object.entries(step.errors_by_kind);
  if (kinds.length === 0) return `<p class="ok">no failed requests</p>`;
  const messages = [...new Set(step.errors.filter((e) => e !== ''))].slice(0, 3);
  const rows = kinds.map(
    ([kind, count]) =>
      `<tr data-kind="${escapeHtml(kind)}"><td class="text">${escapeHtml(kind)}</td>${cell(`errors_by_kind.${kind}`, String(count))}</tr>`,
  );
  const examples = messages.length
    ? `<ul class="error-messages">${messages.map((m) => `<li><code>${escapeHtml(m)}</code></li>`).join('')}</ul>`
    : '';
  return `<table class="errors"><thead><tr><th class="text">error kind</th><th>requests</th></tr></thead><tbody>${rows.join('')}</tbody></table>${examples}`;
}
