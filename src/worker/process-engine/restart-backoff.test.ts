import { describe, expect, it } from 'vitest';
import { RestartBackoff } from './restart-backoff.js';

describe('RestartBackoff', () => {
  it('doubles the delay per consecutive failure up to the cap', () => {
    const backoff = new RestartBackoff({ initialBackoffMs: 100, maxBackoffMs: 1000 });
    const delays = Array.from({ length: 6 }, () => backoff.nextDelayMs(0));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.restarts).toBe(6);
  });

  it('starts over after the engine stayed ready long enough, but not after a short run', () => {
    const backoff = new RestartBackoff({ initialBackoffMs: 100, stableAfterMs: 1000 });
    expect(backoff.nextDelayMs(0)).toBe(100);
    expect(backoff.nextDelayMs(0)).toBe(200);
    backoff.markReady(10_000);
    expect(backoff.nextDelayMs(10_500)).toBe(400); // ready only 500 ms: still failing
    backoff.markReady(20_000);
    expect(backoff.nextDelayMs(21_001)).toBe(100); // ready > 1 s: stable, from the start
    expect(backoff.restarts).toBe(4);
  });
});
