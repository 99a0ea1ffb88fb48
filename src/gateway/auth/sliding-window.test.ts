import { describe, expect, it } from 'vitest';
import { admits, estimate, retryAfterMs, windowStartMs } from './sliding-window.js';

const W = 60_000;

describe('sliding window', () => {
  it('weighs the previous window by its share still inside the sliding window', () => {
    expect(windowStartMs(125_000, W)).toBe(120_000);
    expect(estimate({ previous: 10, current: 3, elapsedMs: 15_000 }, W)).toBe(10.5);
    expect(admits({ previous: 0, current: 1, elapsedMs: 0 }, W, 2, 1)).toBe(true);
    expect(admits({ previous: 0, current: 2, elapsedMs: 0 }, W, 2, 1)).toBe(false);
    // A check with cost 0 (tpm before the answer) admits while the count is below the limit.
    expect(admits({ previous: 0, current: 99, elapsedMs: 0 }, W, 100, 0)).toBe(true);
    expect(admits({ previous: 0, current: 100, elapsedMs: 0 }, W, 100, 0)).toBe(false);
  });

  it('answers the first moment the same call is admitted again', () => {
    const cases = [
      { previous: 0, current: 2, elapsedMs: 10_000, limit: 2, cost: 1 },
      { previous: 5, current: 1, elapsedMs: 20_000, limit: 4, cost: 1 },
      { previous: 300, current: 150, elapsedMs: 30_000, limit: 200, cost: 0 },
      { previous: 0, current: 500, elapsedMs: 1, limit: 100, cost: 0 },
    ];
    for (const { limit, cost, ...counts } of cases) {
      const waitMs = retryAfterMs(counts, W, limit, cost);
      expect(waitMs).toBeGreaterThan(0);
      const at = (t: number) => {
        const elapsed = counts.elapsedMs + t;
        return elapsed < W
          ? { previous: counts.previous, current: counts.current, elapsedMs: elapsed }
          : { previous: counts.current, current: 0, elapsedMs: elapsed - W };
      };
      expect(admits(at(waitMs), W, limit, cost), JSON.stringify(counts)).toBe(true);
      expect(admits(at(waitMs - 1000), W, limit, cost), JSON.stringify(counts)).toBe(false);
    }
    expect(retryAfterMs({ previous: 0, current: 0, elapsedMs: 0 }, W, 1, 1)).toBe(0);
  });
});
