import { describe, expect, it } from 'vitest';
import { maxJsonDepth, nestsTooDeep, parseJsonBuffer } from './read-json-body.js';

const nested = (depth: number, inside = '1') => `${'['.repeat(depth)}${inside}${']'.repeat(depth)}`;

describe('parseJsonBuffer', () => {
  it('parses bodies nested up to the limit and refuses deeper ones before parsing', () => {
    const deepest = `{"messages":${nested(maxJsonDepth - 1)}}`;
    expect(parseJsonBuffer(Buffer.from(deepest))).toHaveProperty('messages');
    for (const body of [`{"x":${nested(maxJsonDepth)}}`, `{"x":${nested(2_000_000)}}`]) {
      expect(() => parseJsonBuffer(Buffer.from(body))).toThrow(
        expect.objectContaining({
          code: 'invalid_json',
          message: `request body nests arrays or objects deeper than ${maxJsonDepth} levels`,
        }),
      );
    }
  });

  it('counts no bracket inside a string, escaped quotes included', () => {
    const text = `say ${'['.repeat(5000)} \\" ${'{'.repeat(5000)}`;
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: text }] }));
    expect(nestsTooDeep(body)).toBe(false);
    expect(parseJsonBuffer(body)).toEqual({ messages: [{ role: 'user', content: text }] });
    // Many brackets side by side are not deep: a long conversation of small objects.
    const wide = Buffer.from(JSON.stringify({ messages: Array.from({ length: 3000 }, () => ({ a: [1] })) }));
    expect(nestsTooDeep(wide)).toBe(false);
  });
});
