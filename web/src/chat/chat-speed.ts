/** The playground's speed of an answer, from when its tokens arrived. */

/** What the speed is computed from (fields of the playground's `ChatAnswer`). */
export interface AnswerTiming {
  startedAtMs: number;
  firstTokenAtMs: number | null;
  lastTokenAtMs: number | null;
  /** Text pieces received (an estimate of tokens until the usage chunk arrives). */
  chunks: number;
  completionTokens: number | null;
}

/**
 * Output tokens per second between the first and the last token (the usage count when known); over the
 * whole request when they arrived together.
 */
export function tokensPerSecond(answer: AnswerTiming): number | null {
  const tokens = answer.completionTokens ?? answer.chunks;
  if (answer.firstTokenAtMs === null || answer.lastTokenAtMs === null || tokens < 2) return null;
  const seconds = (answer.lastTokenAtMs - answer.firstTokenAtMs) / 1000;
  if (seconds > 0) return (tokens - 1) / seconds;
  // The whole answer arrived in one read (a fast engine, or a proxy that buffers): no time between first
  // and last token to measure, so the rate over the whole request, a lower bound, is shown instead.
  const wholeSeconds = (answer.lastTokenAtMs - answer.startedAtMs) / 1000;
  return wholeSeconds > 0 ? tokens / wholeSeconds : null;
}
