import { describe, expect, it } from 'vitest';
import { intFlag } from './parse-flags.js';

describe('intFlag', () => {
  it('takes decimal integers at or above the minimum, and the fallback when absent', () => {
    expect(intFlag(undefined, 'rpm', 7)).toBe(7);
    expect(intFlag('16', 'rpm', 7)).toBe(16);
    expect(intFlag('0', 'rpm', 7, 0)).toBe(0);
    expect(intFlag('-2', 'offset', 0, -5)).toBe(-2);
  });

  it('refuses what Number() would quietly read as another number', () => {
    for (const value of ['0x10', '1e3', ' 7 ', '7.0', '', '+5', '0b11', '9007199254740993', 'Infinity']) {
      expect(() => intFlag(value, 'rpm', 1), JSON.stringify(value)).toThrow(/--rpm must be an integer ≥ 1/);
    }
    expect(() => intFlag('0', 'rpm', 1)).toThrow(/≥ 1, got "0"/);
  });
});
