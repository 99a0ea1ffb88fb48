/**
 * The in-process RateLimiter: sliding-window counters in a Map. Limits hold per gateway process;
 * RedisRateLimiter shares them between gateways.
 */
import type { RateLimiter, TakeResult } from './rate-limiter.js';
import { admits, retryAfterMs, windowStartMs } from './sliding-window.js';

interface Window {
  startMs: number;
  windowMs: number;
  previous: number;
  current: number;
}

/** Operations between sweeps of windows that ended long ago. */
const sweepEvery = 1000;

export class LocalRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly totals = new Map<string, number>();
  private operations = 0;

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, limit: number | null, cost: number, windowMs: number): Promise<TakeResult> {
    const nowMs = this.now();
    this.maybeSweep(nowMs);
    const window = this.advance(key, nowMs, windowMs);
    const counts = { previous: window.previous, current: window.current, elapsedMs: nowMs - window.startMs };
    if (limit !== null && !admits(counts, windowMs, limit, cost)) {
      return Promise.resolve({ admitted: false, retryAfterMs: retryAfterMs(counts, windowMs, limit, cost) });
    }
    window.current += cost;
    return Promise.resolve({ admitted: true, retryAfterMs: 0 });
  }

  addTotal(key: string, amount: number): Promise<number> {
    const total = (this.totals.get(key) ?? 0) + amount;
    this.totals.set(key, total);
    return Promise.resolve(total);
  }

  total(key: string): Promise<number> {
    return Promise.resolve(this.totals.get(key) ?? 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The window of `key` moved to the one containing now. */
  private advance(key: string, nowMs: number, windowMs: number): Window {
    const startMs = windowStartMs(nowMs, windowMs);
    const window = this.windows.get(key);
    if (!window || window.windowMs !== windowMs) {
      const fresh = { startMs, windowMs, previous: 0, current: 0 };
      this.windows.set(key, fresh);
      return fresh;
    }
    if (window.startMs !== startMs) {
      window.previous = window.startMs === startMs - windowMs ? window.current : 0;
      window.current = 0;
      window.startMs = startMs;
    }
    return window;
  }

  private maybeSweep(nowMs: number): void {
    if (++this.operations % sweepEvery !== 0) return;
    for (const [key, window] of this.windows) {
      if (window.startMs < nowMs - 2 * window.windowMs) this.windows.delete(key);
    }
  }
}
