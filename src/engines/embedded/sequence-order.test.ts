import type { BatchItem, Token } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { sequenceOrderedStrategy } from './sequence-order.js';

const item = (ids: number[]): BatchItem => ({
  tokens: ids as Token[],
  logits: ids.map(() => true),
  evaluationPriority: 5,
});

describe('sequenceOrderedStrategy', () => {
  it('orders batch items by sequence id, gives each one token first, then fills with prompt tokens', () => {
    const [s3, s0, s2, s1] = [item([7]), item([1, 2, 3, 4, 5, 6]), item([9]), item([8])];
    const queued = [
      { sequenceId: 3, tokens: s3.tokens },
      { sequenceId: 0, tokens: s0.tokens },
      { sequenceId: 2, tokens: s2.tokens },
      { sequenceId: 1, tokens: s1.tokens },
    ];
    const strategy = sequenceOrderedStrategy(() => queued);
    const plan = strategy({ items: [s3, s0, s2, s1], size: 6 });
    expect(plan.map((entry) => entry.item)).toEqual([s0, s1, s2, s3]);
    expect(plan.map((entry) => entry.processAmount)).toEqual([3, 1, 1, 1]);
  });

  it('never exceeds the batch size', () => {
    const items = [item([1, 2, 3]), item([4, 5, 6])];
    const plan = sequenceOrderedStrategy(() => [])({ items, size: 1 });
    expect(plan.reduce((sum, entry) => sum + entry.processAmount, 0)).toBe(1);
  });
});
