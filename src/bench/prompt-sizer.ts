/**
 * Builds prompts of an exact token count without shipping a tokenizer per model: it calibrates against the
 * engine's own count (`usage.prompt_tokens` of a probe request with max_tokens 1), which is the ground truth
 * for every engine and model, chat template included.
 *
 * Calibration: for candidate filler words (at most 8, until 4 fit) it measures a 16× and a 32× repetition;
 * words whose repetition costs exactly one token each are kept (common English words are single tokens in BPE vocabularies with a
 * space prefix: Qwen2, DeepSeek, Llama 3). A prompt of N such words then costs overhead + N tokens, where the
 * overhead (chat template, BOS, the shared prefix) is measured once with the real message layout, and a
 * random mix of the kept words is verified before use. When no word costs exactly one token (toy or
 * byte-level vocabularies) the sizer falls back to a linear fit, `exact: false`; the engine's usage numbers
 * still report the true lengths in the results.
 */
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { uniformInt, seededRandom, type Random } from './seeded-random.js';

/** Candidate filler words, in order of preference. */
export const fillerCandidates = [
  'the',
  'of',
  'and',
  'to',
  'in',
  'is',
  'for',
  'on',
  'with',
  'as',
  'at',
  'by',
  'from',
  'this',
  'that',
  'time',
  'data',
  'system',
  'model',
  'light',
  'water',
  'city',
  'river',
  'music',
] as const;

/** The prompt's parts: a shared prefix (system message) and the per-request body (user message). */
export interface PromptParts {
  prefix: string;
  body: string;
}

/** Counts the prompt tokens the engine bills for these parts (one probe request). */
export type MeasurePrompt = (parts: PromptParts) => Promise<number>;

export interface PromptSizer {
  /** Whether every built prompt has exactly the requested token count. */
  exact: boolean;
  /** Tokens of the template and the shared prefix (the smallest prompt). */
  overheadTokens: number;
  /** The shared prefix text (same for every request; "" without one). */
  prefix: string;
  /** A prompt of `tokens` tokens (at least overhead + 1), its body drawn from `random`. */
  build(tokens: number, random: Random): PromptParts;
}

const REPS = 16;
/** Enough words for prompts that differ (4^16 mixes for 16 tokens) at two probe requests per word tried. */
const MAX_WORDS = 4;
/** Candidates tried at most: 6 when none is a single token (a toy or byte vocabulary), else 8. */
const MAX_TRIED_WITHOUT_SINGLE = 6;
const MAX_TRIED = 8;

function words(pool: readonly string[], count: number, random: Random): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(pool[uniformInt(random, 0, pool.length - 1)]!);
  return out.join(' ');
}

export interface CalibrateOptions {
  sharedPrefixTokens: number;
  seed: number;
}

export async function calibratePromptSizer(
  measure: MeasurePrompt,
  options: CalibrateOptions,
): Promise<PromptSizer> {
  const single: string[] = [];
  let slope: number | null = null;
  for (const word of fillerCandidates) {
    const short = await measure({ prefix: '', body: Array(REPS).fill(word).join(' ') });
    const long = await measure({
      prefix: '',
      body: Array(2 * REPS)
        .fill(word)
        .join(' '),
    });
    const cost = (long - short) / REPS;
    slope ??= cost;
    if (cost === 1) single.push(word);
    const tried = fillerCandidates.indexOf(word) + 1;
    if (single.length >= MAX_WORDS || tried >= MAX_TRIED) break;
    if (single.length === 0 && tried >= MAX_TRIED_WITHOUT_SINGLE) break;
  }
  const pool = single.length > 0 ? single : [fillerCandidates[0]];
  const costPerWord = single.length > 0 ? 1 : (slope ?? 1);
  if (!(costPerWord > 0)) {
    throw new EdgeFleetError(
      'engine_error',
      'cannot size prompts: the engine reports the same prompt_tokens for longer prompts',
    );
  }
  const prefixRandom = seededRandom(options.seed ^ 0x5eed);
  const prefix =
    options.sharedPrefixTokens > 0
      ? words(pool, Math.round(options.sharedPrefixTokens / costPerWord), prefixRandom)
      : '';
  // The overhead with the real layout: a body of REPS words costs overhead + REPS × cost.
  const probeRandom = seededRandom(options.seed ^ 0xca1);
  const withBody = await measure({ prefix, body: words(pool, REPS, probeRandom) });
  const overheadTokens = Math.round(withBody - REPS * costPerWord);
  let exact = single.length > 0;
  if (exact) {
    const check = await measure({ prefix, body: words(pool, 4 * REPS, probeRandom) });
    exact = check === overheadTokens + 4 * REPS;
  }
  return {
    exact,
    overheadTokens,
    prefix,
    build(tokens, random) {
      const count = Math.max(1, Math.round((tokens - overheadTokens) / costPerWord));
      return { prefix, body: words(pool, count, random) };
    },
  };
}
