import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

describe('RetryBudget', () => {
  it('allows the floor plus a share of recent requests, then refuses', () => {
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 2, windowMs: 10_000 });
    for (let i = 0; i < 10; i++) budget.onRequest(1000);
    const granted = Array.from({ length: 10 }, () => budget.tryRetry(1000)).filter(Boolean).length;
    expect(granted).toBe(4); // 2 + 0.2 × 10
  });

  it('refills as the window slides past old retries', () => {
    const budget = new RetryBudget({ ratio: 0, minRetries: 1, windowMs: 1000 });
    expect(budget.tryRetry(0)).toBe(true);
    expect(budget.tryRetry(500)).toBe(false);
    expect(budget.tryRetry(1200)).toBe(true);
    expect(budget.tryRetry(100_000)).toBe(true);
  });

  it('with no floor and no requests, never retries', () => {
    const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 1000 });
    expect(budget.tryRetry(0)).toBe(false);
    budget.onRequest(0);
    budget.onRequest(0);
    expect(budget.tryRetry(0)).toBe(true);
    expect(budget.tryRetry(0)).toBe(false);
  });
});
