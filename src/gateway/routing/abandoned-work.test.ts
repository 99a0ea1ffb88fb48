import { describe, expect, it } from 'vitest';
import { abandonedWork } from './abandoned-work.js';

describe('abandonedWork', () => {
  it('counts the prompt first, then output tokens at the time per output token', () => {
    // 1,000 prompt tokens at 0.5 ms: 500 ms; then 20 ms a token.
    expect(abandonedWork(300, 1000, 0.5, 20)).toEqual({ promptTokens: 600, completionTokens: 0 });
    expect(abandonedWork(500, 1000, 0.5, 20)).toEqual({ promptTokens: 1000, completionTokens: 0 });
    expect(abandonedWork(1510, 1000, 0.5, 20)).toEqual({ promptTokens: 1000, completionTokens: 50 });
    expect(abandonedWork(100, 0, 0.5, 20)).toEqual({ promptTokens: 0, completionTokens: 5 });
  });

  it("never counts more output than the request's max_tokens allowed", () => {
    expect(abandonedWork(20_000, 2000, 0.5, 20, 16)).toEqual({ promptTokens: 2000, completionTokens: 16 });
  });
});
