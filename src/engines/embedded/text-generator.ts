import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { FinishReason } from '../../spec/openai-responses.js';
import type { BatchGate } from './batch-gate.js';
import { StopMatcher } from './stop-matcher.js';

export interface SamplingParams {
  maxTokens: number;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  stop: readonly string[];
  ignoreEos: boolean;
}

export interface GenerationResult {
  finishReason: FinishReason;
  completionTokens: number;
  /** Prompt tokens taken from the slot's cache instead of being evaluated again. */
  cachedPromptTokens: number;
}

export interface GenerationHooks {
  /** Complete text, in order, safe to send to the client. */
  onText(text: string): void;
  /** Called once per sampled token (for inter-token latency). */
  onToken?(): void;
  signal: AbortSignal;
}

/** U+FFFD at the end means a multi-byte character is split across tokens: wait for the next token. */
const INCOMPLETE = '\uFFFD';
const MAX_HELD_TOKENS = 8;

/**
 * Runs one generation on one sequence: reuses the longest cached prefix of the prompt, evaluates the rest,
 * samples up to `maxTokens`, and hands text to `onText` as soon as it is complete UTF-8 that no stop
 * string can still claim. Aborting the signal stops at the next token, or during a long prompt after the
 * batch being evaluated.
 */
export async function generateText(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  gate: BatchGate,
  promptTokens: readonly Token[],
  params: SamplingParams,
  hooks: GenerationHooks,
): Promise<GenerationResult> {
  const { onText, onToken, signal } = hooks;
  const cachedPromptTokens = await reusePrefix(sequence, gate, promptTokens);
  const generated: Token[] = [];
  const stops = new StopMatcher(params.stop);
  let held: Token[] = [];
  let finishReason: FinishReason = 'length';
  let hitStopString = false;
  const penalize =
    params.presencePenalty !== 0 || params.frequencyPenalty !== 0 || params.repetitionPenalty !== 1;
  // A long prompt is evaluated a part at a time before sampling starts, so that a client that leaves
  // during it frees its slot after at most one part rather than after the whole prompt; a part is a
  // batch, or the prefill chunk while other streams are generating (gate.promptPart).
  const uncached = promptTokens.slice(cachedPromptTokens) as Token[];
  const batchSize = Math.max(1, sequence.context.batchSize);
  let at = 0;
  for (
    let part = gate.promptPart(batchSize);
    uncached.length - at > part;
    part = gate.promptPart(batchSize)
  ) {
    // Between parts, work that needs the context lock (another slot erasing its cache) goes first.
    for (let wait = gate.exclusiveSettled(); wait; wait = gate.exclusiveSettled()) await wait;
    if (signal.aborted) return { finishReason, completionTokens: 0, cachedPromptTokens };
    await sequence.evaluateWithoutGeneratingNewTokens(uncached.slice(at, at + part));
    at += part;
  }
  if (signal.aborted) return { finishReason, completionTokens: 0, cachedPromptTokens };
  const iterator = sequence.evaluate(uncached.slice(at), {
    temperature: params.temperature,
    ...(params.topP !== undefined && { topP: params.topP }),
    ...(params.topK !== undefined && { topK: params.topK }),
    ...(params.minP !== undefined && { minP: params.minP }),
    ...(params.seed !== undefined && { seed: params.seed }),
    ...(penalize && {
      repeatPenalty: {
        punishTokens: () => generated,
        penalty: params.repetitionPenalty,
        presencePenalty: params.presencePenalty,
        frequencyPenalty: params.frequencyPenalty,
      },
    }),
    yieldEogToken: true,
  });
  const turn = gate.join();
  try {
    while (generated.length < params.maxTokens && !signal.aborted) {
      const wait = turn.beforeNext();
      if (wait) await wait;
      const step = await iterator.next();
      turn.afterNext();
      if (step.done) {
        finishReason = 'stop';
        break;
      }
      const token = step.value;
      if (model.isEogToken(token) && !params.ignoreEos) {
        finishReason = 'stop';
        break;
      }
      generated.push(token);
      onToken?.();
      if (model.isEogToken(token)) continue;
      held.push(token);
      const text = model.detokenize(held, false, generated.slice(-held.length - 4, -held.length));
      if (text.endsWith(INCOMPLETE) && held.length < MAX_HELD_TOKENS) continue;
      held = [];
      const { text: safe, stopped } = stops.push(text);
      if (safe !== '') onText(safe);
      if (stopped) {
        finishReason = 'stop';
        hitStopString = true;
        break;
      }
    }
    if (!hitStopString && !signal.aborted) {
      // Flush what was held back: a trailing partial character, or text that only looked like a stop string.
      const { text: safe, stopped } = stops.push(held.length > 0 ? model.detokenize(held, false) : '');
      const rest = stopped ? safe : safe + stops.end();
      if (stopped) finishReason = 'stop';
      if (rest !== '') onText(rest);
    }
  } finally {
    turn.leave();
    await iterator.return();
  }
  return { finishReason, completionTokens: generated.length, cachedPromptTokens };
}

/**
 * Keeps the part of the sequence's cache that matches the new prompt and erases the rest (llama-server's
 * `cache_prompt`). At least one prompt token is always evaluated, since sampling needs its logits.
 */
async function reusePrefix(
  sequence: LlamaContextSequence,
  gate: BatchGate,
  promptTokens: readonly Token[],
): Promise<number> {
  const cached = sequence.contextTokens;
  let common = 0;
  const limit = Math.min(cached.length, promptTokens.length - 1);
  while (common < limit && cached[common] === promptTokens[common]) common++;
  if (common < sequence.nextTokenIndex) {
    const end = sequence.nextTokenIndex;
    await gate.exclusive(() => sequence.eraseContextTokenRanges([{ start: common, end }]));
  }
  return common;
}
