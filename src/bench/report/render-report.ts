/**
 * `renderReport(results)`: one self-contained HTML page for an `edgefleet bench` results file. It has no
 * scripts and loads nothing: the stylesheet is inline and the charts are inline SVG drawn here, so the file
 * opens offline and can be mailed or archived as it is. Every string that came from the results (model
 * names, URLs, error messages) is escaped.
 */
import type { BenchResult, BenchStep } from '../../spec/bench-result.js';
import { histogramChart } from './histogram-chart.js';
import { escapeHtml } from './html-escape.js';
import { lineChart } from './line-chart.js';
import { formatShare, formatValue } from './report-format.js';
import { reportStyle } from './report-style.js';
import { configList, errorsTable, latencyTable, overviewTable, throughputTable } from './report-tables.js';

/** Milliseconds of the successful requests' per-request latencies (stored in seconds). */
function successfulMs(step: BenchStep, seconds: readonly number[]): number[] {
  return seconds.filter((_, i) => (step.errors[i] ?? '') === '').map((s) => s * 1000);
}

/** The sweep variable of a step: its concurrency, or its request rate. */
function sweepValue(step: BenchStep): number | null {
  return step.max_concurrency ?? step.request_rate;
}

/** Throughput and latency against the sweep variable (steps sorted by it). */
function sweepCharts(results: BenchResult): string {
  const steps = [...results.steps].sort((a, b) => (sweepValue(a) ?? 0) - (sweepValue(b) ?? 0));
  const rateMode = results.config.mode === 'rate';
  const xLabel = rateMode ? 'request rate (requests/s)' : 'concurrency (requests in flight)';
  const xValues = steps.map((s) => formatValue(sweepValue(s)));
  const chart = (
    title: string,
    yLabel: string,
    series: [string, (s: BenchStep) => number | null][],
  ): string =>
    lineChart({
      title,
      xLabel,
      yLabel,
      xValues,
      series: series.map(([name, get]) => ({ name, values: steps.map(get) })),
    });
  const against = rateMode ? 'request rate' : 'concurrency';
  const hasSlo = steps.some((s) => s.request_goodput !== null);
  return [
    chart(`Token throughput against ${against}`, 'tokens/s', [
      ['output tok/s', (s) => s.output_throughput],
      ['input + output tok/s', (s) => s.total_token_throughput],
    ]),
    chart(`Request throughput against ${against}`, 'requests/s', [
      ['requests/s', (s) => s.request_throughput],
      ...(hasSlo
        ? [
            ['goodput requests/s', (s: BenchStep) => s.request_goodput] as [
              string,
              (s: BenchStep) => number | null,
            ],
          ]
        : []),
    ]),
    chart(`TTFT against ${against}`, 'milliseconds', [
      ['TTFT p50', (s) => s.p50_ttft_ms],
      ['TTFT p99', (s) => s.p99_ttft_ms],
    ]),
    chart(`TPOT against ${against}`, 'milliseconds', [
      ['TPOT p50', (s) => s.p50_tpot_ms],
      ['TPOT p99', (s) => s.p99_tpot_ms],
    ]),
    chart(`End-to-end latency against ${against}`, 'milliseconds', [
      ['E2E p50', (s) => s.p50_e2el_ms],
      ['E2E p99', (s) => s.p99_e2el_ms],
    ]),
  ].join('\n');
}

function maxRateSection(results: BenchResult): string {
  const found = results.max_rate;
  if (found === null) return '';
  const rows = found.probes
    .map(
      (p) =>
        `<tr><td data-field="request_rate">${escapeHtml(formatValue(p.request_rate))}</td><td data-field="goodput_share">${escapeHtml(formatShare(p.goodput_share))}</td><td class="${p.met ? 'ok' : 'bad'}">${p.met ? 'met' : 'missed'}</td></tr>`,
    )
    .join('');
  const answer =
    found.request_rate === null
      ? 'no rate tried met the SLO'
      : `${formatValue(found.request_rate)} requests/s is the highest rate found that meets the SLO`;
  return `<h2>Highest rate within the SLO</h2><p data-field="max_rate">${escapeHtml(answer)} (at least ${escapeHtml(formatShare(found.min_goodput_share))} of requests within it).</p><table><thead><tr><th>rate req/s</th><th>within SLO</th><th>verdict</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function stepSection(step: BenchStep, index: number): string {
  return (
    `<section class="step" data-step="${index}"><h3>${escapeHtml(step.label)}</h3>` +
    `<div class="charts">${latencyTable(step)}${throughputTable(step)}</div>` +
    errorsTable(step) +
    `<div class="charts">${histogramChart({ title: `TTFT distribution, ${step.label}`, valuesMs: successfulMs(step, step.ttfts) })}` +
    `${histogramChart({ title: `End-to-end latency distribution, ${step.label}`, valuesMs: successfulMs(step, step.e2els) })}</div>` +
    `</section>`
  );
}

/** The whole report as one HTML document. */
export function renderReport(results: BenchResult): string {
  const title = `edgefleet bench: ${results.model_id}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${reportStyle}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Run started ${escapeHtml(results.date)} · ${results.steps.length} step${results.steps.length === 1 ? '' : 's'} · results schema ${results.schema_version}</p>
${configList(results)}
<h2>Steps</h2>
${overviewTable(results.steps)}
<h2>Throughput and latency</h2>
<div class="charts">
${sweepCharts(results)}
</div>
${maxRateSection(results)}
<h2>Each step</h2>
<p class="meta">Latencies in milliseconds. TTFT: request sent to first token. TPOT: (E2E − TTFT) / (output tokens − 1). ITL: gap between successive tokens. E2E: request sent to last token. Goodput: completed requests per second that met the SLO.</p>
${results.steps.map(stepSection).join('\n')}
</body>
</html>
`;
}
