import { describe, expect, it } from 'vitest';
import { TransferMeter, type PullProgress } from './transfer-meter.js';

describe('TransferMeter', () => {
  it('measures speed over its window and throttles reports', () => {
    let nowMs = 0;
    const reports: PullProgress[] = [];
    const meter = new TransferMeter({
      onProgress: (p) => reports.push(p),
      intervalMs: 100,
      windowMs: 1_000,
      now: () => nowMs,
    });
    meter.start(500, 10_500);
    for (let i = 0; i < 100; i++) {
      nowMs += 10;
      meter.add(100); // 10,000 bytes/s
    }
    expect(meter.receivedBytes).toBe(10_500);
    expect(meter.bytesPerSecond).toBeCloseTo(10_000, -1);
    expect(reports.length).toBeGreaterThanOrEqual(10);
    expect(reports.length).toBeLessThanOrEqual(12);
    expect(reports[0]).toEqual({ receivedBytes: 500, totalBytes: 10_500, bytesPerSecond: 0 });
    meter.report(true);
    expect(reports.at(-1)?.receivedBytes).toBe(10_500);
  });
});
