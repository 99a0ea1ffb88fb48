/**
 * What an engine likely did for a non-streamed request whose client left before the answer: the engine
 * answers only at the end, so nothing it sent tells. Sent to an idle instance, the time the attempt ran
 * is prompt processing and then generation at the instance's measured speeds (or the configured
 * defaults); the record is marked estimated. Without this, a client could have any number of answers
 * generated and hang up before each, spending no tokens of its budget.
 */
import type { TokenUsage } from '../streaming/sse-usage-relay.js';

export function abandonedWork(
  elapsedMs: number,
  promptTokens: number,
  timePerPromptTokenMs: number,
  timePerOutputTokenMs: number,
  /** The request's `max_tokens` (or `max_completion_tokens`): no more output can have been generated. */
  maxTokens = Infinity,
): TokenUsage {
  const promptMs = promptTokens * timePerPromptTokenMs;
  if (elapsedMs < promptMs) {
    return { promptTokens: Math.floor((promptTokens * elapsedMs) / promptMs), completionTokens: 0 };
  }
  const generatingMs = elapsedMs - promptMs;
  return {
    promptTokens,
    completionTokens:
      timePerOutputTokenMs > 0 ? Math.min(maxTokens, Math.floor(generatingMs / timePerOutputTokenMs)) : 0,
  };
}
