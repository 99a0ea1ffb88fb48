/** Axis scales for the report's SVG charts: round tick values that cover the data. */

export interface NiceScale {
  lo: number;
  hi: number;
  ticks: number[];
}

/** Ticks at 1, 2, 2.5 or 5 × 10ⁿ from at or below `min` to at or above `max` (about `count` of them). */
export function niceScale(min: number, max: number, count = 5): NiceScale {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { lo: 0, hi: 1, ticks: [0, 1] };
  if (max <= min) max = min === 0 ? 1 : min + Math.abs(min) * 0.1;
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const lo = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step < max + step * 1e-9 || ticks.length < 2; i++) {
    ticks.push(Number((lo + i * step).toPrecision(12)));
  }
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((lo + ticks.length * step).toPrecision(12)));
  return { lo, hi: ticks[ticks.length - 1]!, ticks };
}

/** A tick label: no trailing zeros, thousands as "k". */
export function formatTick(value: number): string {
  if (Math.abs(value) >= 10_000) return `${Number((value / 1000).toPrecision(4))}k`;
  return String(Number(value.toPrecision(4)));
}
