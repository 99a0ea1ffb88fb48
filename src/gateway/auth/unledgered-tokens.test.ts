import { describe, expect, it } from 'vitest';
import { testUsage } from '../../../test/helpers/principals.js';
import { keepShippedMs, UnledgeredTokens } from './unledgered-tokens.js';

describe('UnledgeredTokens', () => {
  it('counts unshipped tokens, then shipped ones for ledger totals read before their shipment', () => {
    const tokens = new UnledgeredTokens();
    tokens.counted('k', 30);
    tokens.counted('k', 20);
    expect(tokens.notIn('k', 1_000)).toBe(50);
    tokens.stored([testUsage('k', 30)], 2_000);
    expect(tokens.notIn('k', 1_000)).toBe(50); // read before the shipment: not in that total
    expect(tokens.notIn('k', 2_000)).toBe(20); // read after it: only what is still unshipped
    // A principal read earlier, checked after a later one, still sees what its total lacks.
    expect(tokens.notIn('k', 1_000)).toBe(50);
    expect(tokens.notIn('k', undefined)).toBe(20);
  });

  it('follows only keys it counted for, and forgets shipments older than it keeps', () => {
    const tokens = new UnledgeredTokens();
    tokens.stored([testUsage('no-budget', 500)], 1_000);
    expect(tokens.notIn('no-budget', 0)).toBe(0);
    tokens.counted('k', 10);
    tokens.stored([testUsage('k', 10)], 1_000);
    expect(tokens.notIn('k', 0)).toBe(10);
    tokens.counted('k', 5);
    tokens.stored([testUsage('k', 5)], 1_000 + keepShippedMs + 1);
    expect(tokens.notIn('k', 0)).toBe(5); // the first shipment is forgotten
  });

  it('hands over the shipments a key list pulled at a time lacks, and takes them back after a restart', () => {
    const tokens = new UnledgeredTokens();
    for (const [at, n] of [
      [1_000, 10],
      [5_000, 20],
      [9_000, 30],
    ] as const) {
      tokens.counted('k', n);
      tokens.stored([testUsage('k', n)], at);
    }
    expect(tokens.shippedTokens(5_000)).toEqual({ k: [{ atMs: 9_000, tokens: 30 }] });
    expect(tokens.shippedTokens(9_000)).toEqual({});
    const restarted = new UnledgeredTokens();
    restarted.restoreShipped(tokens.shippedTokens(), 10_000);
    expect(restarted.notIn('k', 4_000)).toBe(50);
    // Entries that are not whole positive token counts are dropped; old ones forgotten.
    restarted.restoreShipped(
      { j: [{ atMs: 9_500, tokens: -3 }], o: [{ atMs: 1, tokens: 4 }] },
      1 + keepShippedMs + 1,
    );
    expect(Object.keys(restarted.shippedTokens())).toEqual(['k']);
  });
});
