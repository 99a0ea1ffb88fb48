/** The step metrics and the --find-max-rate search, on hand-made request records with known answers. */
import { describe, expect, it } from 'vitest';
import { maxMetRate, nextRate, type RateProbe } from '../../src/bench/max-rate-search.js';
import type { RequestRecord } from '../../src/bench/request-record.js';
import { maxConcurrent, stepMetrics } from '../../src/bench/step-metrics.js';
import { benchStepSchema } from '../../src/spec/bench-result.js';

function record(startS: number, ttftS: number, gapS: number, tokens: number): RequestRecord {
  const chunkTimesS = Array.from({ length: tokens }, (_, i) => startS + ttftS + i * gapS);
  return {
    startS,
    endS: chunkTimesS.at(-1)!,
    ok: true,
    errorKind: null,
    error: '',
    ttftS,
    itlsS: Array(tokens - 1).fill(gapS),
    chunkTimesS,
    inputTokens: 10,
    outputTokens: tokens,
    tokenSource: 'usage',
    text: 'x'.repeat(tokens),
  };
}
const failed: RequestRecord = {
  ...record(0.5, 0, 0, 1),
  ok: false,
  errorKind: 'http_5xx',
  error: 'HTTP 500',
  outputTokens: 0,
  chunkTimesS: [],
};

describe('step metrics', () => {
  const setup = {
    label: 'concurrency 2',
    maxConcurrency: 2,
    requestRate: null,
    arrival: null,
    slo: { ttftMs: 150, tpotMs: 30 },
  };
  const records = [record(0, 0.1, 0.02, 11), record(0, 0.2, 0.02, 11), record(0.35, 0.1, 0.05, 6), failed];
  const step = stepMetrics(setup, records, 2);

  it('computes vLLM-style throughput, token totals and latency summaries', () => {
    expect(benchStepSchema.parse(step)).toEqual(step);
    expect(step).toMatchObject({
      completed: 3,
      failed: 1,
      total_input_tokens: 30,
      total_output_tokens: 28,
      duration: 2,
    });
    expect(step.request_throughput).toBeCloseTo(1.5, 12);
    expect(step.output_throughput).toBeCloseTo(14, 12);
    expect(step.total_token_throughput).toBeCloseTo(29, 12);
    expect(step.mean_ttft_ms).toBeCloseTo((100 + 200 + 100) / 3, 9);
    expect(step.median_ttft_ms).toBeCloseTo(100, 9);
    // TPOT = (e2el − ttft) / (tokens − 1): 20, 20, 50 ms
    expect(step.mean_tpot_ms).toBeCloseTo(30, 9);
    expect(step.p99_tpot_ms).toBeCloseTo(20 + 30 * 0.98, 9);
    expect(step.mean_itl_ms).toBeCloseTo((20 * 20 + 5 * 50) / 25, 9);
    expect(step.mean_e2el_ms).toBeCloseTo((300 + 400 + 350) / 3, 9);
    expect(step.errors_by_kind).toEqual({ http_5xx: 1 });
    expect(step.errors).toEqual(['', '', '', 'HTTP 500']);
    expect(step.ttfts).toEqual([0.1, 0.2, 0.1, 0]);
    expect(step.input_lens).toEqual([10, 10, 10, 0]);
    expect(step.itls[3]).toEqual([]);
  });

  it('counts goodput: requests within both SLO limits, per second and as a share of all sent', () => {
    // request 2 misses TTFT (200 > 150), request 3 misses TPOT (50 > 30), request 4 failed
    expect(step.slo_met).toEqual([true, false, false, false]);
    expect(step.goodput_share).toBe(0.25);
    expect(step.request_goodput).toBeCloseTo(0.5, 12);
    const noSlo = stepMetrics({ ...setup, slo: { ttftMs: null, tpotMs: null } }, records, 2);
    expect(noSlo.goodput_share).toBeNull();
    expect(noSlo.request_goodput).toBeNull();
  });

  it('finds the most requests in flight and the peak output second', () => {
    expect(maxConcurrent(records)).toBe(2);
    expect(maxConcurrent([...records, record(0.05, 0.1, 0.1, 2)])).toBe(3);
    expect(maxConcurrent([record(0, 0.1, 0.1, 2), record(0.2, 0.1, 0.1, 2)])).toBe(1);
    expect(step.max_output_tokens_per_s).toBe(28);
  });
});

describe('max-rate search', () => {
  /** Runs the search against a system that meets the SLO up to `capacity` req/s. */
  function search(capacity: number, startRate: number): { tried: number[]; found: number | null } {
    const probes: RateProbe[] = [];
    for (let rate = nextRate(probes, { startRate }); rate !== null; rate = nextRate(probes, { startRate })) {
      probes.push({ rate, met: rate <= capacity });
    }
    return { tried: probes.map((p) => p.rate), found: maxMetRate(probes) };
  }

  it.each([
    { capacity: 5, start: 1 },
    { capacity: 3.3, start: 1 },
    { capacity: 0.3, start: 2 },
    { capacity: 40, start: 10 },
  ])('finds a rate within 10% below capacity $capacity starting at $start', ({ capacity, start }) => {
    const { tried, found } = search(capacity, start);
    expect(found).not.toBeNull();
    expect(found!).toBeLessThanOrEqual(capacity);
    expect(found!).toBeGreaterThanOrEqual(capacity / 1.1 - 1e-9 - capacity * 0.1);
    expect(tried.length).toBeLessThanOrEqual(12);
  });

  it('gives up (null) when even a 64th of the start rate misses', () => {
    expect(search(0.001, 1)).toMatchObject({ found: null });
  });
});
