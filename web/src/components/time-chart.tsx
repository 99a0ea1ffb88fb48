import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatNumber } from '../format';

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
}

const palette = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

/**
 * A time-series line chart (uPlot, canvas). `times` are epoch ms. The chart is rebuilt when the set of
 * series changes and only fed new data otherwise; it follows its container's width. Below it, the latest
 * value of each series in words, for screen readers and quick reading.
 */
export function TimeChart({
  title,
  unit,
  times,
  series,
  testId,
  height = 180,
}: {
  title: string;
  unit: string;
  times: number[];
  series: ChartSeries[];
  testId?: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('\u0000');
  const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...series.map((s) => s.values)];

  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const format = (value: number | null): string => (value === null ? '–' : `${formatNumber(value, 2)}`);
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height,
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max, min, 1) * 1.1] } },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: palette[i % palette.length],
          width: 2,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => format(v),
        })),
      ],
      axes: [{}, { size: 56, values: (_u, values) => values.map((v) => formatNumber(v, 1)) }],
      legend: { show: true, live: false },
    };
    plot.current = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(200, element.clientWidth), height });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // the chart is rebuilt only when its series change; data goes in below
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const latest = series.map((s) => {
    const last = [...s.values].reverse().find((v) => v !== null && v !== undefined);
    return `${s.label}: ${last === undefined || last === null ? '–' : formatNumber(last, 2)} ${unit}`;
  });

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>
        <strong>{title}</strong> <span class="muted">({unit})</span>
      </figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${title}: ${latest.join('; ')}`} />
      {series.length === 0 && <p class="muted">No data yet.</p>}
    </figure>
  );
}
