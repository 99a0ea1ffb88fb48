import { describe, expect, it } from 'vitest';
import { prefixKeyOf, rendezvousPick } from './prefix-key.js';

describe('prefix keys', () => {
  it('takes the leading characters of messages or prompts', () => {
    const system = { role: 'system', content: 'You are a helpful assistant. '.repeat(20) };
    const a = prefixKeyOf({ messages: [system, { role: 'user', content: 'one' }] }, 64);
    const b = prefixKeyOf({ messages: [system, { role: 'user', content: 'two' }] }, 64);
    expect(a).toHaveLength(64);
    expect(a).toBe(b);
    expect(
      prefixKeyOf({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, 64),
    ).toContain('hi');
    expect(prefixKeyOf({ prompt: 'hello world' }, 5)).toBe('hello');
    expect(prefixKeyOf({ prompt: ['first', 'second'] }, 64)).toBe('first');
    expect(prefixKeyOf({ prompt: [1, 2, 3] }, 64)).toBe('1,2,3');
    expect(prefixKeyOf({ messages: [] }, 64)).toBeUndefined();
    expect(prefixKeyOf('nope', 64)).toBeUndefined();
  });

  it('maps a key to one candidate consistently, spreads keys, and moves only the keys of a candidate that leaves', () => {
    const all = ['a@1', 'b@2', 'c@3', 'd@4'];
    const keys = Array.from({ length: 400 }, (_, i) => `prompt ${i}`);
    const owners = keys.map((key) => rendezvousPick(key, all)!);
    expect(keys.map((key) => rendezvousPick(key, [...all].reverse()))).toEqual(owners);
    for (const candidate of all) {
      const share = owners.filter((o) => o === candidate).length;
      expect(share).toBeGreaterThan(50);
      expect(share).toBeLessThan(150);
    }
    const without = keys.map((key) =>
      rendezvousPick(
        key,
        all.filter((c) => c !== 'c@3'),
      ),
    );
    owners.forEach((owner, i) => {
      if (owner !== 'c@3') expect(without[i]).toBe(owner);
    });
    expect(rendezvousPick('x', [])).toBeUndefined();
  });
});
