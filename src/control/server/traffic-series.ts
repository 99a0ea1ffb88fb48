/**
 * Turns the store's traffic buckets into the dashboard's chart series: one point per bucket of the
 * window (idle buckets as zeros and nulls, so charts get a continuous x axis), rates per second of the
 * bucket, a series per site and model that had requests, and the fleet-wide series (site and model `*`).
 */
import type { TrafficBucket, TrafficBuckets } from '../../store/store-types.js';

export interface TrafficPoint {
  /** Bucket start, epoch ms. */
  t: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  /** Completion (output) tokens per second. */
  tokensPerSecond: number;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  tpotP50Ms: number | null;
  tpotP99Ms: number | null;
}

export interface TrafficSeries {
  /** Site name as the ledger records it; `*` for the fleet; empty for requests that reached no site. */
  site: string;
  /** Served model name; `*` for the fleet. */
  model: string;
  points: TrafficPoint[];
}

export interface TrafficWindow {
  fromMs: number;
  stepMs: number;
  buckets: number;
}

/** Rounds a rate or a latency to 3 decimals (charts need no more; JSON stays small). */
const round3 = (value: number): number => Math.round(value * 1000) / 1000;
const roundOrNull = (value: number | null): number | null => (value === null ? null : round3(value));

function points(window: TrafficWindow, rows: readonly TrafficBucket[]): TrafficPoint[] {
  const byBucket = new Map(rows.map((row) => [row.bucket, row]));
  const stepS = window.stepMs / 1000;
  return Array.from({ length: window.buckets }, (_, index) => {
    const row = byBucket.get(index);
    return {
      t: window.fromMs + index * window.stepMs,
      requests: row?.requests ?? 0,
      errors: row?.errors ?? 0,
      requestsPerSecond: round3((row?.requests ?? 0) / stepS),
      tokensPerSecond: round3((row?.completionTokens ?? 0) / stepS),
      ttftP50Ms: roundOrNull(row?.ttftP50Ms ?? null),
      ttftP99Ms: roundOrNull(row?.ttftP99Ms ?? null),
      tpotP50Ms: roundOrNull(row?.tpotP50Ms ?? null),
      tpotP99Ms: roundOrNull(row?.tpotP99Ms ?? null),
    };
  });
}

/** The fleet series first, then one per site and model, ordered by site then model. */
export function trafficSeries(window: TrafficWindow, buckets: TrafficBuckets): TrafficSeries[] {
  const groups = new Map<string, { site: string; model: string; rows: TrafficBucket[] }>();
  for (const row of buckets.groups) {
    if (row.bucket < 0 || row.bucket >= window.buckets) continue;
    const site = row.siteName ?? '';
    const model = row.model ?? '';
    const key = JSON.stringify([site, model]);
    const group = groups.get(key) ?? { site, model, rows: [] };
    group.rows.push(row);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort(
    (a, b) => a.site.localeCompare(b.site) || a.model.localeCompare(b.model),
  );
  return [
    { site: '*', model: '*', points: points(window, buckets.fleet) },
    ...ordered.map((group) => ({ site: group.site, model: group.model, points: points(window, group.rows) })),
  ];
}
