import { describe, expect, it } from 'vitest';
import { InstanceStats } from './instance-stats.js';

describe('InstanceStats', () => {
  const answer = (ms: number) => ({ timePerOutputTokenMs: ms, completionTokens: 10 });

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
