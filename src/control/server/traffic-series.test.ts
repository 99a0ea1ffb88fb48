import { describe, expect, it } from 'vitest';
import type { TrafficBucket } from '../../store/store-types.js';
import { trafficSeries } from './traffic-series.js';

const row = (bucket: number, fields: Partial<TrafficBucket> = {}): TrafficBucket => ({
  bucket,
  siteName: 'room-1',
  model: 'm',
  requests: 3,
  errors: 0,
  completionTokens: 10,
  ttftP50Ms: 12.34567,
  ttftP99Ms: 20,
  tpotP50Ms: null,
  tpotP99Ms: null,
  ...fields,
});

describe('trafficSeries', () => {
  const window = { fromMs: 1_000_000, stepMs: 3000, buckets: 4 };

  it('fills every bucket, divides by the step in seconds and puts the fleet first', () => {
    const series = trafficSeries(window, {
      groups: [row(2), row(0, { siteName: null, model: 'x' })],
      fleet: [row(0, { siteName: null, model: null }), row(2, { siteName: null, model: null })],
    });
    expect(series.map((s) => [s.site, s.model])).toEqual([
      ['*', '*'],
      ['', 'x'],
      ['room-1', 'm'],
    ]);
    const points = series[2]!.points;
    expect(points.map((p) => p.t)).toEqual([1_000_000, 1_003_000, 1_006_000, 1_009_000]);
    expect(points[2]).toEqual({
      t: 1_006_000,
      requests: 3,
      errors: 0,
      requestsPerSecond: 1,
      tokensPerSecond: 3.333,
      ttftP50Ms: 12.346,
      ttftP99Ms: 20,
      tpotP50Ms: null,
      tpotP99Ms: null,
    });
    expect(points[0]).toMatchObject({ requests: 0, requestsPerSecond: 0, ttftP50Ms: null });
  });

  it('always has the fleet series, and ignores buckets outside the window', () => {
    const series = trafficSeries(window, { groups: [row(4), row(-1)], fleet: [] });
    expect(series).toHaveLength(1);
    expect(series[0]!.points.every((p) => p.requests === 0)).toBe(true);
  });
});
