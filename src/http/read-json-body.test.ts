import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { clipped } from '../spec/edgefleet-error.js';
import { maxJsonDepth, nestsTooDeep, parseJsonBuffer, parseWith } from './read-json-body.js';

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

describe('parseWith', () => {
  it('names at most ten unknown fields, each clipped, and counts the rest', () => {
    const body = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`f${i}${'x'.repeat(i === 0 ? 500 : 0)}`, 1]),
    );
    expect(() => parseWith(z.strictObject({}), body)).toThrow(
      expect.objectContaining({
        code: 'unsupported_parameter',
        message: expect.stringMatching(
          /^unsupported parameter\(s\): f0x{98}… \(502 characters\), f1, f2, [^]*, f9 and 190 more$/,
        ),
      }),
    );
  });

  it('quotes short values whole', () => {
    expect(clipped('tiny')).toBe('tiny');
    expect(clipped('a'.repeat(300))).toBe(`${'a'.repeat(200)}… (300 characters)`);
  });
});
