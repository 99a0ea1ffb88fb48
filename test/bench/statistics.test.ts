/** Table tests of the bench's pure statistics against values numpy gives for the same inputs. */
import { describe, expect, it } from 'vitest';
import { maxPerSecond, mean, percentile, standardDeviation, summarize } from '../../src/bench/statistics.js';

describe('bench statistics', () => {
  // numpy.percentile(values, p) (linear interpolation), numpy.std (ddof 0)
  it.each([
    { values: [1, 2, 3, 4], p: 50, expected: 2.5 },
    { values: [1, 2, 3, 4], p: 90, expected: 3.7 },
    { values: [1, 2, 3, 4], p: 99, expected: 3.97 },
    { values: [10], p: 99, expected: 10 },
    { values: [5, 1, 3], p: 0, expected: 1 },
    { values: [5, 1, 3], p: 100, expected: 5 },
    { values: [15, 20, 35, 40, 50], p: 40, expected: 29 },
  ])('percentile($values, $p) = $expected', ({ values, p, expected }) => {
    expect(percentile(values, p)).toBeCloseTo(expected, 10);
  });

  it.each([
    { values: [2, 4, 4, 4, 5, 5, 7, 9], mean: 5, std: 2 },
    { values: [1, 2, 3, 4], mean: 2.5, std: Math.sqrt(1.25) },
    { values: [7], mean: 7, std: 0 },
  ])('mean and population std of $values', ({ values, mean: m, std }) => {
    expect(mean(values)).toBeCloseTo(m, 12);
    expect(standardDeviation(values)).toBeCloseTo(std, 12);
  });

  it('answers null for no values and refuses a percentile outside 0..100', () => {
    expect(mean([])).toBeNull();
    expect(standardDeviation([])).toBeNull();
    expect(percentile([], 50)).toBeNull();
    expect(summarize([])).toEqual({ mean: null, median: null, std: null, p50: null, p90: null, p99: null });
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarizes with a scale (seconds to milliseconds), median equal to p50', () => {
    const s = summarize([0.1, 0.2, 0.3, 0.4], 1000);
    expect(s.mean).toBeCloseTo(250, 9);
    expect(s.median).toBeCloseTo(250, 9);
    expect(s.p50).toBe(s.median);
    expect(s.p90).toBeCloseTo(370, 9);
  });

  it.each([
    { times: [0.1, 0.2, 1.5, 1.6, 1.7, 3], start: 0, expected: 3 },
    { times: [], start: 0, expected: 0 },
    { times: [10.1, 10.9, 11.0], start: 10, expected: 2 },
  ])('maxPerSecond($times) = $expected', ({ times, start, expected }) => {
    expect(maxPerSecond(times, start)).toBe(expected);
  });
});
