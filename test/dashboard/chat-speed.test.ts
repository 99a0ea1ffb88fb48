import { describe, expect, it } from 'vitest';
import { type AnswerTiming, tokensPerSecond } from '../../web/src/chat/chat-speed.js';

function answer(fields: Partial<AnswerTiming>): AnswerTiming {
  return {
    startedAtMs: 1000,
    firstTokenAtMs: null,
    lastTokenAtMs: null,
    chunks: 0,
    completionTokens: null,
    ...fields,
  };
}

/** The playground's speed per answer. */
describe('tokensPerSecond', () => {
  it('counts the tokens after the first over the time between first and last token', () => {
    expect(tokensPerSecond(answer({ firstTokenAtMs: 1200, lastTokenAtMs: 1400, completionTokens: 11 }))).toBe(
      50,
    );
    // Text pieces stand in for tokens until the usage chunk arrives.
    expect(tokensPerSecond(answer({ firstTokenAtMs: 1200, lastTokenAtMs: 1300, chunks: 6 }))).toBe(50);
  });

  it('uses the whole request when the answer arrived in one read, and shows nothing it cannot measure', () => {
    expect(tokensPerSecond(answer({ firstTokenAtMs: 1500, lastTokenAtMs: 1500, completionTokens: 20 }))).toBe(
      40,
    );
    expect(
      tokensPerSecond(answer({ firstTokenAtMs: 1000, lastTokenAtMs: 1000, completionTokens: 20 })),
    ).toBeNull();
    expect(
      tokensPerSecond(answer({ firstTokenAtMs: 1200, lastTokenAtMs: 1400, completionTokens: 1 })),
    ).toBeNull();
    expect(tokensPerSecond(answer({ completionTokens: 5 }))).toBeNull();
  });
});
