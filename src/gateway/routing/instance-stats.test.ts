import { describe, expect, it } from 'vitest';
import { InstanceStats } from './instance-stats.js';

describe('InstanceStats', () => {
  const answer = (ms: number) => ({ timePerOutputTokenMs: ms, completionTokens: 10 });

  it('estimates the prompt processing ahead as one queue, in the order requests were sent', () => {
    const stats = new InstanceStats(0.3);
    expect(stats.promptWorkAheadMs('a', 0.5, 0)).toBe(0);
    const first = stats.begin('a', 1000, 4000); // 2000 ms of prompt at 0.5 ms per token: done at 3000
    stats.begin('a', 1500, 1000); // waits for the first: done at 3500
    expect(stats.promptWorkAheadMs('a', 0.5, 1500)).toBe(2000);
    expect(stats.promptWorkAheadMs('a', 0.5, 3200)).toBe(300);
    expect(stats.promptWorkAheadMs('a', 0.5, 4000)).toBe(0);
    first();
    // Sent after the queue had emptied: counted from its own send time.
    stats.begin('a', 5000, 200);
    // The 1000-token request was done at 2000 (only its own 500 ms, the first is released).
    expect(stats.promptWorkAheadMs('a', 0.5, 5000)).toBe(100);
    expect(stats.inFlight('a')).toBe(2);
    expect(stats.inFlight('a', 2000)).toBe(1);
    // The clock stepped back an hour: requests sent "in the future" count from now (whole), not from
    // then (which would add the hour).
    expect(stats.promptWorkAheadMs('a', 0.5, 5000 - 3_600_000)).toBe(600);
  });

  it('keeps a speed through a lull (stale, not forgotten), and the first answer after it replaces it', () => {
    const stats = new InstanceStats(0.3, 30_000);
    for (const at of [0, 100, 200]) stats.recordAnswer('a', 'm', answer(50), at);
    expect(stats.timePerOutputTokenMs('a', 3, 1000)).toEqual({ ms: 50, stale: false });
    expect(stats.timePerOutputTokenMs('a', 3, 40_000)).toEqual({ ms: 50, stale: true });
    expect(stats.timePerOutputTokenMs('a', 4, 1000)).toBeNull(); // not warm yet
    // The instance recovered during the lull: one answer says so (not eight at alpha 0.3).
    stats.recordAnswer('a', 'm', answer(5), 40_000);
    expect(stats.timePerOutputTokenMs('a', 3, 40_001)).toEqual({ ms: 5, stale: false });
    // Within the window, answers move the average by alpha.
    stats.recordAnswer('a', 'm', answer(15), 41_000);
    expect(stats.timePerOutputTokenMs('a', 3, 41_001)?.ms).toBeCloseTo(8);
  });
});
