/**
 * Builds the request body of the i-th request of a step: synthetic prompts sized by the PromptSizer (with
 * the shared prefix as a system message) or the next dataset conversation; `max_tokens` from the output
 * distribution, with `ignore_eos` when the engine accepts it so that the output has exactly that length.
 * Streaming with `stream_options.include_usage`, so the engine reports its own token counts. Pure.
 */
import type { TokenDistribution } from '../spec/bench-result.js';
import type { DatasetEntry } from './dataset.js';
import type { PromptParts, PromptSizer } from './prompt-sizer.js';
import { sampleTokens } from './token-distribution.js';
import type { Random } from './seeded-random.js';

export type ApiKind = 'chat' | 'completions';

export interface RequestFactoryOptions {
  model: string;
  api: ApiKind;
  ignoreEos: boolean;
  promptTokens: TokenDistribution | null;
  outputTokens: TokenDistribution | null;
  sizer: PromptSizer | null;
  dataset: DatasetEntry[] | null;
}

const DEFAULT_DATASET_OUTPUT = 128;

/** The JSON body of a chat or completions request for these prompt parts. */
export function bodyFor(
  options: Pick<RequestFactoryOptions, 'model' | 'api' | 'ignoreEos'>,
  messages: { role: 'system' | 'user'; content: string }[],
  maxTokens: number,
): Record<string, unknown> {
  const common = {
    model: options.model,
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    ...(options.ignoreEos ? { ignore_eos: true } : {}),
  };
  if (options.api === 'chat') return { ...common, messages };
  return { ...common, prompt: messages.map((m) => m.content).join('\n\n') };
}

/** The messages of a synthetic prompt: the shared prefix as a system message, then the body. */
export function messagesFor(parts: PromptParts): { role: 'system' | 'user'; content: string }[] {
  return parts.prefix === ''
    ? [{ role: 'user', content: parts.body }]
    : [
        { role: 'system', content: parts.prefix },
        { role: 'user', content: parts.body },
      ];
}

/** Returns a function that builds request `index` of a step from the step's seeded random stream. */
export function requestFactory(
  options: RequestFactoryOptions,
): (index: number, random: Random) => Record<string, unknown> {
  return (index, random) => {
    if (options.dataset) {
      const entry = options.dataset[index % options.dataset.length]!;
      const maxTokens =
        (entry.explicitMaxTokens ? entry.maxTokens : null) ??
        (options.outputTokens ? sampleTokens(options.outputTokens, random) : null) ??
        entry.maxTokens ??
        DEFAULT_DATASET_OUTPUT;
      return bodyFor(options, entry.messages, maxTokens);
    }
    const promptTokens = sampleTokens(options.promptTokens!, random);
    const maxTokens = sampleTokens(options.outputTokens!, random);
    return bodyFor(options, messagesFor(options.sizer!.build(promptTokens, random)), maxTokens);
  };
}
