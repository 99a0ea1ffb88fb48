/** An SVG histogram of one latency metric for one step (counts of requests per latency bin). */
import { chartFrame, plot, px, yOf } from './chart-frame.js';
import { formatTick, niceScale } from './chart-scale.js';
import { escapeHtml } from './html-escape.js';
import { formatValue } from './report-format.js';

export interface HistogramOptions {
  title: string;
  /** Latencies in milliseconds. */
  valuesMs: readonly number[];
  bins?: number;
}

/** Counts per bin over a round range that covers the values. */
export function histogramBins(
  valuesMs: readonly number[],
  bins: number,
): { lo: number; hi: number; counts: number[] } {
  const min = Math.min(...valuesMs);
  const max = Math.max(...valuesMs);
  const range = niceScale(min, max, 5);
  const width = (range.hi - range.lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const value of valuesMs) {
    const index = Math.min(bins - 1, Math.max(0, Math.floor((value - range.lo) / width)));
    counts[index]! += 1;
  }
  return { lo: range.lo, hi: range.hi, counts };
}

export function histogramChart(options: HistogramOptions): string {
  const values = options.valuesMs.filter((v) => Number.isFinite(v));
  if (values.length === 0) {
    return `<p class="empty">${escapeHtml(options.title)}: no successful requests</p>`;
  }
  const binCount = options.bins ?? 20;
  const { lo, hi, counts } = histogramBins(values, binCount);
  const yScale = niceScale(0, Math.max(...counts), 4);
  const xOf = (value: number): number => plot.left + ((value - lo) / (hi - lo)) * (plot.right - plot.left);
  const binWidth = (hi - lo) / binCount;
  const bars = counts
    .map((count, i) => {
      if (count === 0) return '';
      const x0 = xOf(lo + i * binWidth);
      const x1 = xOf(lo + (i + 1) * binWidth);
      const y = yOf(yScale, count);
      const label = `${formatValue(lo + i * binWidth)}–${formatValue(lo + (i + 1) * binWidth)} ms: ${count} requests`;
      return `<rect class="bar" x="${px(x0 + 0.5)}" y="${px(y)}" width="${px(Math.max(0.5, x1 - x0 - 1))}" height="${px(plot.bottom - y)}"><title>${escapeHtml(label)}</title></rect>`;
    })
    .join('');
  const xTicks = niceScale(lo, hi, 5)
    .ticks.filter((t) => t >= lo && t <= hi)
    .map(
      (t) =>
        `<text class="tick" x="${px(xOf(t))}" y="${plot.bottom + 16}" text-anchor="middle">${escapeHtml(formatTick(t))}</text>`,
    )
    .join('');
  return chartFrame({
    title: options.title,
    xLabel: 'milliseconds',
    yLabel: 'requests',
    yScale,
    body: bars + xTicks,
    kind: 'histogram',
  });
}
