/** The HTML report: its tables carry the results' numbers, it has a chart per figure, escapes, loads nothing. */
import { describe, expect, test } from 'vitest';
import { niceScale } from '../../src/bench/report/chart-scale.js';
import { histogramBins } from '../../src/bench/report/histogram-chart.js';
import { renderReport } from '../../src/bench/report/render-report.js';
import { formatValue } from '../../src/bench/report/report-format.js';
import { makeResults, makeStep } from './bench-result-fixture.js';

/** The text of the first element matching `selector` ([data-step=N] … [data-field=F]) in the HTML. */
function fieldText(html: string, scope: string, field: string): string | undefined {
  const start = html.indexOf(scope);
  if (start < 0) return undefined;
  const rest = html.slice(start);
  const match = new RegExp(`data-field="${field.replace(/\./g, '\\.')}">([^<]*)<`).exec(rest);
  return match?.[1];
}

const results = makeResults({
  concurrency: [1, 2, 4],
  steps: [
    makeStep({ concurrency: 1 }),
    makeStep({ concurrency: 2 }),
    makeStep({
      concurrency: 4,
      failures: [
        { kind: 'http_5xx', message: 'HTTP 503: <b>overloaded</b>' },
        { kind: 'http_5xx', message: 'HTTP 503: <b>overloaded</b>' },
        { kind: 'timeout', message: 'no answer within 600 s' },
      ],
    }),
  ],
});
const html = renderReport(results);

describe('renderReport', () => {
  test('is one HTML document with inline CSS and no scripts', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
  });

  test('references no external resource', () => {
    expect(html).not.toMatch(/\b(src|href|xlink:href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    // The only http:// is the benchmarked endpoint, shown as text.
    expect(html.match(/https?:\/\//g)).toEqual(['http://']);
    expect(html).toContain('<dd>http://127.0.0.1:18099/v1 (chat)</dd>');
    expect(html).toContain(
      '<dd>against the engine&#39;s usage counts (template 9 tokens, 2 probe requests)</dd>',
    );
  });

  test('the overview table has each step’s throughput, goodput and latency', () => {
    results.steps.forEach((step, i) => {
      const row = `<tr data-step="${i}">`;
      expect(fieldText(html, row, 'label')).toBe(step.label);
      expect(fieldText(html, row, 'completed')).toBe(String(step.completed));
      expect(fieldText(html, row, 'failed')).toBe(String(step.failed));
      expect(fieldText(html, row, 'request_throughput')).toBe(formatValue(step.request_throughput));
      expect(fieldText(html, row, 'output_throughput')).toBe(formatValue(step.output_throughput));
      expect(fieldText(html, row, 'request_goodput')).toBe(formatValue(step.request_goodput));
      expect(fieldText(html, row, 'p50_ttft_ms')).toBe(formatValue(step.p50_ttft_ms));
    });
    expect(fieldText(html, '<tr data-step="2">', 'failed')).toBe('3');
  });

  test('each step has TTFT/TPOT/ITL/E2E mean, p50, p90, p99', () => {
    results.steps.forEach((step, i) => {
      const section = `<section class="step" data-step="${i}">`;
      for (const metric of ['ttft', 'tpot', 'itl', 'e2el'] as const) {
        for (const stat of ['mean', 'p50', 'p90', 'p99'] as const) {
          const field = `${stat}_${metric}_ms` as const;
          expect(fieldText(html, section, field), `${step.label} ${field}`).toBe(formatValue(step[field]));
        }
      }
      expect(fieldText(html, section, 'total_token_throughput')).toBe(
        formatValue(step.total_token_throughput),
      );
    });
  });

  test('errors are counted by kind, and their messages stay text', () => {
    const section = '<section class="step" data-step="2">';
    expect(fieldText(html, section, 'errors_by_kind.http_5xx')).toBe('2');
    expect(fieldText(html, section, 'errors_by_kind.timeout')).toBe('1');
    expect(html).toContain('<code>HTTP 503: &lt;b&gt;overloaded&lt;/b&gt;</code>');
    expect(html).not.toContain('<b>overloaded</b>');
    expect(html.slice(html.indexOf('<section class="step" data-step="0">'))).toContain('no failed requests');
  });

  test('an <svg> per chart: five sweep charts and two histograms per step', () => {
    const svgs = html.match(/<svg class="chart [^"]*"/g) ?? [];
    expect(svgs.filter((s) => s.includes('line-chart'))).toHaveLength(5);
    expect(svgs.filter((s) => s.includes('histogram'))).toHaveLength(2 * results.steps.length);
    expect(html).toContain('aria-label="Token throughput against concurrency"');
    expect(html).toContain('aria-label="TTFT distribution, concurrency 4"');
  });

  test('a histogram counts every successful request once', () => {
    const section = html.slice(html.indexOf('<section class="step" data-step="0">'));
    const firstHistogram = section.slice(
      0,
      section.indexOf('</svg>', section.indexOf('class="chart histogram"')),
    );
    const counts = [...firstHistogram.matchAll(/: (\d+) requests<\/title>/g)].map((m) => Number(m[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(results.steps[0]!.completed);
  });

  test('line charts put one point per step on each series', () => {
    const chart = html.slice(html.indexOf('aria-label="TPOT against concurrency"'));
    const p99 = chart.slice(
      chart.indexOf('data-series="TPOT p99"'),
      chart.indexOf('</g>', chart.indexOf('data-series="TPOT p99"')),
    );
    expect(p99.match(/<circle/g)).toHaveLength(3);
    expect(p99).toContain(`TPOT p99: ${formatValue(results.steps[2]!.p99_tpot_ms)}`);
  });

  test('a <script> in the model name stays text', () => {
    const evil = makeResults({ model: '<script>alert(1)</script>"&' });
    const page = renderReport(evil);
    expect(page).not.toContain('<script>');
    expect(page).toContain(
      '<title>edgefleet bench: &lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;</title>',
    );
    expect(page).toContain('<h1>edgefleet bench: &lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;</h1>');
  });

  test('rate sweeps are charted against the request rate, with the max-rate search', () => {
    const base = makeResults({ concurrency: [1] });
    const rateStep = (rate: number) => ({
      ...makeStep({ concurrency: 1 }),
      label: `rate ${rate}/s`,
      max_concurrency: null,
      request_rate: rate,
      arrival: 'poisson' as const,
    });
    const page = renderReport({
      ...base,
      config: {
        ...base.config,
        mode: 'rate',
        concurrency: null,
        rates: [4, 1],
        arrival: 'poisson',
        find_max_rate: true,
      },
      steps: [rateStep(4), rateStep(1)],
      max_rate: {
        request_rate: 1,
        min_goodput_share: 0.9,
        probes: [
          { request_rate: 4, goodput_share: 0.5, met: false, step: 0 },
          { request_rate: 1, goodput_share: 1, met: true, step: 1 },
        ],
      },
    });
    expect(page).toContain('aria-label="Request throughput against request rate"');
    expect(page).toContain('request rate (requests/s)');
    expect(page).toContain('1 requests/s is the highest rate found that meets the SLO');
    const ticks = page.slice(
      page.indexOf('aria-label="Token throughput'),
      page.indexOf('</svg>', page.indexOf('aria-label="Token throughput')),
    );
    // Steps are sorted by rate: the tick for 1 comes before the tick for 4.
    expect(ticks.indexOf('>1</text>')).toBeLessThan(ticks.indexOf('>4</text>'));
  });
});

describe('chart helpers', () => {
  test('niceScale covers the data with round ticks', () => {
    expect(niceScale(0, 97)).toEqual({ lo: 0, hi: 100, ticks: [0, 20, 40, 60, 80, 100] });
    expect(niceScale(83, 121).lo).toBeLessThanOrEqual(83);
    expect(niceScale(83, 121).hi).toBeGreaterThanOrEqual(121);
  });
  test('histogramBins puts each value in one bin', () => {
    const { counts, lo, hi } = histogramBins([1, 2, 2, 9.99, 10], 5);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(lo).toBeLessThanOrEqual(1);
    expect(hi).toBeGreaterThanOrEqual(10);
    expect(counts[counts.length - 1]).toBeGreaterThanOrEqual(1);
  });
});
