import { describe, expect, it } from 'vitest';
import { intFlag, portFlag } from './parse-flags.js';

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

  it('takes ports from 0 to 65535 and says so for anything else', () => {
    expect(portFlag('0', 8080)).toBe(0);
    expect(portFlag('65535', 8080)).toBe(65_535);
    expect(portFlag(undefined, 8080)).toBe(8080);
    for (const value of ['65536', '70000', '-1']) {
      expect(() => portFlag(value, 8080)).toThrow(
        `--port must be an integer from 0 to 65535, got "${value}"`,
      );
    }
  });
});
