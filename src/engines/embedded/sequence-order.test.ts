import type { BatchItem, Token } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { sequenceOrderedStrategy } from './sequence-order.js';

const item = (ids: number[]): BatchItem => ({
  tokens: ids as Token[],
  logits: ids.map(() => true),
  evaluationPriority: 5,
});

describe('sequenceOrderedStrategy', () => {
  it('puts single tokens first in sequence-id order, then one prompt last with what is left', () => {
    const [s3, s0, s2, s1] = [item([7]), item([1, 2, 3, 4, 5, 6]), item([9]), item([8])];
    const queued = [
      { sequenceId: 3, tokens: s3.tokens },
      { sequenceId: 0, tokens: s0.tokens },
      { sequenceId: 2, tokens: s2.tokens },
      { sequenceId: 1, tokens: s1.tokens },
    ];
    const strategy = sequenceOrderedStrategy(() => queued);
    const plan = strategy({ items: [s3, s0, s2, s1], size: 6 });
    expect(plan.map((entry) => entry.item)).toEqual([s1, s2, s3, s0]);
    expect(plan.map((entry) => entry.processAmount)).toEqual([1, 1, 1, 3]);
  });

  it('takes one prompt per batch, the first queued, so that no output is reordered', () => {
    const [p2, s1, p0] = [item([1, 2, 3]), item([7]), item([4, 5])];
    const queued = [
      { sequenceId: 2, tokens: p2.tokens },
      { sequenceId: 1, tokens: s1.tokens },
      { sequenceId: 0, tokens: p0.tokens },
    ];
    const plan = sequenceOrderedStrategy(() => queued)({ items: [p2, s1, p0], size: 512 });
    expect(plan.map((entry) => entry.item)).toEqual([s1, p2]);
    expect(plan.map((entry) => entry.processAmount)).toEqual([1, 3]);
  });

  it('gives a prompt at most the prefill chunk while other streams decode, the whole batch alone', () => {
    const [s1, p0] = [item([7]), item(Array.from({ length: 40 }, (_, i) => i))];
    const queued = [
      { sequenceId: 1, tokens: s1.tokens },
      { sequenceId: 0, tokens: p0.tokens },
    ];
    const strategy = sequenceOrderedStrategy(() => queued, 8);
    const mixed = strategy({ items: [p0, s1], size: 32 });
    expect(mixed.map((entry) => entry.item)).toEqual([s1, p0]);
    expect(mixed.map((entry) => entry.processAmount)).toEqual([1, 8]);
    // No one else is decoding: the prompt takes what the batch holds.
    expect(strategy({ items: [p0], size: 32 }).map((entry) => entry.processAmount)).toEqual([32]);
    // Without a chunk (the default), the batch's rest.
    const whole = sequenceOrderedStrategy(() => queued)({ items: [p0, s1], size: 32 });
    expect(whole.map((entry) => entry.processAmount)).toEqual([1, 31]);
  });

  it('never exceeds the batch size', () => {
    const items = [item([1, 2, 3]), item([4, 5, 6])];
    const plan = sequenceOrderedStrategy(() => [])({ items, size: 1 });
    expect(plan.reduce((sum, entry) => sum + entry.processAmount, 0)).toBe(1);
  });
});
