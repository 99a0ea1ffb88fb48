/**
 * The frame every report chart shares: an <svg> with a title, a y axis with grid lines and tick labels, and
 * axis titles. Charts draw their marks inside the plot area it describes. All text is escaped here.
 */
import { formatTick, type NiceScale } from './chart-scale.js';
import { escapeHtml } from './html-escape.js';

export const chartWidth = 560;
export const chartHeight = 280;
export const plot = { left: 60, right: chartWidth - 16, top: 48, bottom: chartHeight - 46 } as const;

/** The y pixel of a value on the scale. */
export function yOf(scale: NiceScale, value: number): number {
  const span = scale.hi - scale.lo || 1;
  return plot.bottom - ((value - scale.lo) / span) * (plot.bottom - plot.top);
}

/** Rounds a pixel coordinate to 0.1 for compact output. */
export function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export interface FrameOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  yScale: NiceScale;
  /** Marks, x tick labels and legends drawn by the chart. */
  body: string;
  /** A CSS class naming the chart kind (histogram, line-chart). */
  kind: string;
}

/** Wraps a chart's marks in the shared frame. */
export function chartFrame(options: FrameOptions): string {
  const { yScale } = options;
  const grid = yScale.ticks
    .map((tick) => {
      const y = px(yOf(yScale, tick));
      return `<line class="grid" x1="${plot.left}" x2="${plot.right}" y1="${y}" y2="${y}"/><text class="tick" x="${plot.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(formatTick(tick))}</text>`;
    })
    .join('');
  const midY = (plot.top + plot.bottom) / 2;
  return (
    `<svg class="chart ${escapeHtml(options.kind)}" viewBox="0 0 ${chartWidth} ${chartHeight}" width="${chartWidth}" height="${chartHeight}" role="img" aria-label="${escapeHtml(options.title)}">` +
    `<text class="chart-title" x="${plot.left}" y="18">${escapeHtml(options.title)}</text>` +
    grid +
    `<line class="axis" x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}"/>` +
    `<line class="axis" x1="${plot.left}" x2="${plot.left}" y1="${plot.top}" y2="${plot.bottom}"/>` +
    options.body +
    `<text class="axis-title" x="${(plot.left + plot.right) / 2}" y="${chartHeight - 8}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>` +
    `<text class="axis-title" x="14" y="${midY}" text-anchor="middle" transform="rotate(-90 14 ${midY})">${escapeHtml(options.yLabel)}</text>` +
    `</svg>`
  );
}
