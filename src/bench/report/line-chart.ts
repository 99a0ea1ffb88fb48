/**
 * An SVG line chart of per-step values against the sweep variable (concurrency or request rate). Steps are
 * spaced evenly and labelled with their value, so 1, 2, 4, …, 64 stay readable.
 */
import { chartFrame, plot, px, yOf } from './chart-frame.js';
import { niceScale } from './chart-scale.js';
import { escapeHtml } from './html-escape.js';
import { formatValue } from './report-format.js';

export interface LineSeries {
  name: string;
  /** One value per x position (null: no value at that step). */
  values: readonly (number | null)[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Labels of the x positions, in order. */
  xValues: readonly string[];
  series: readonly LineSeries[];
}

const palette = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

export function lineChart(options: LineChartOptions): string {
  const all = options.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const yScale = niceScale(0, all.length ? Math.max(...all) : 1, 5);
  const n = options.xValues.length;
  const xOf = (i: number): number =>
    n <= 1 ? (plot.left + plot.right) / 2 : plot.left + 24 + (i * (plot.right - plot.left - 48)) / (n - 1);
  const xTicks = options.xValues
    .map(
      (label, i) =>
        `<text class="tick" x="${px(xOf(i))}" y="${plot.bottom + 16}" text-anchor="middle">${escapeHtml(label)}</text>`,
    )
    .join('');
  const lines = options.series
    .map((series, s) => {
      const color = palette[s % palette.length]!;
      const points = series.values
        .map((v, i) => (v === null ? null : ([xOf(i), yOf(yScale, v), v] as const)))
        .filter((p) => p !== null);
      const path = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x)} ${px(y)}`).join(' ');
      const dots = points
        .map(
          ([x, y, v]) =>
            `<circle cx="${px(x)}" cy="${px(y)}" r="3.5" fill="${color}"><title>${escapeHtml(`${series.name}: ${formatValue(v)}`)}</title></circle>`,
        )
        .join('');
      const legendX = plot.left + s * 150;
      const legendY = 34;
      const legend = `<line x1="${legendX}" x2="${legendX + 18}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2.5"/><text class="legend" x="${legendX + 24}" y="${legendY}" dominant-baseline="middle">${escapeHtml(series.name)}</text>`;
      return `<g class="series" data-series="${escapeHtml(series.name)}"><path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>${dots}${legend}</g>`;
    })
    .join('');
  return chartFrame({
    title: options.title,
    xLabel: options.xLabel,
    yLabel: options.yLabel,
    yScale,
    body: xTicks + lines,
    kind: 'line-chart',
  });
}
