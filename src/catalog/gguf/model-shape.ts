import { EdgeFleetError } from '../../spec/edgefleet-error.js';

export type ModelVocabName = 'toy' | 'qwen2' | 'deepseek';
export type ModelWeightType = 'f32' | 'f16' | 'q8_0';

/** Options of a generated llama-architecture model. */
export interface MakeModelOptions {
  /** Transformer blocks (default 2). */
  layers?: number;
  /** Embedding width (default 64 for the toy vocabulary, 32 for real ones, whose 100k+ rows dominate). */
  hidden?: number;
  /** Attention heads (default 4); hidden / heads is the head size and must be even (RoPE). */
  heads?: number;
  /** Key/value heads (default = heads); must divide heads (grouped-query attention). */
  kvHeads?: number;
  /** Feed-forward width (default 4 × hidden). */
  ffn?: number;
  vocab?: ModelVocabName;
  /** Toy vocabulary only: pad it with filler tokens to this many tokens (default: its natural ~400). */
  vocabSize?: number;
  /** Weight type of the matrices (norms stay F32). Q8_0 needs hidden and ffn to be multiples of 32. */
  type?: ModelWeightType;
  /** Answer with "<think>\n…</think>\n\n" before the answer and embed DeepSeek-R1's template (default false). */
  think?: boolean;
  /** llama.context_length (default 4096). */
  contextLength?: number;
  /** Where real vocabularies are cached once extracted (default <os.tmpdir()>/edgefleet-vocab). */
  vocabCacheDir?: string;
}

/** Validated, defaulted options. */
export type ModelShape = Required<Omit<MakeModelOptions, 'vocabSize' | 'vocabCacheDir'>> & {
  vocabSize: number | undefined;
};

export const modelShapeLimits = {
  layers: [1, 256],
  hidden: [32, 16_384],
  heads: [1, 256],
  kvHeads: [1, 256],
  ffn: [1, 131_072],
  contextLength: [32, 1_048_576],
  /** Total parameters (elements of all tensors): 4 billion, 16 GB in F32. */
  maxParameters: 4_000_000_000,
} as const;

function refuse(param: string, message: string): never {
  throw new EdgeFleetError('invalid_argument', `cannot make model: ${message}`, { param });
}

function intOption(name: keyof typeof modelShapeLimits, value: number): number {
  const [min, max] = modelShapeLimits[name] as readonly [number, number];
  if (!Number.isInteger(value) || value < min || value > max) {
    refuse(name, `${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/**
 * Checks a model's shape before anything is written, so that no file reaches llama.cpp that would make it
 * abort (GGML_ASSERT) instead of failing cleanly: sizes are positive integers within sane bounds, hidden is a
 * multiple of heads with an even head size, heads a multiple of kvHeads, and Q8_0 rows whole 32-blocks.
 */
export function resolveModelShape(options: MakeModelOptions = {}): ModelShape {
  const vocab = options.vocab ?? 'toy';
  if (vocab !== 'toy' && vocab !== 'qwen2' && vocab !== 'deepseek') {
    refuse('vocab', `vocab must be toy, qwen2 or deepseek, got ${String(vocab)}`);
  }
  const type = options.type ?? 'f32';
  if (type !== 'f32' && type !== 'f16' && type !== 'q8_0') refuse('type', `type must be f32, f16 or q8_0`);
  const layers = intOption('layers', options.layers ?? 2);
  const hidden = intOption('hidden', options.hidden ?? (vocab === 'toy' ? 64 : 32));
  const heads = intOption('heads', options.heads ?? 4);
  const kvHeads = intOption('kvHeads', options.kvHeads ?? heads);
  const ffn = intOption('ffn', options.ffn ?? 4 * hidden);
  const contextLength = intOption('contextLength', options.contextLength ?? 4096);
  const think = options.think ?? false;
  if (hidden % heads !== 0) refuse('heads', `hidden (${hidden}) must be a multiple of heads (${heads})`);
  if ((hidden / heads) % 2 !== 0)
    refuse('heads', `head size hidden/heads = ${hidden / heads} must be even (RoPE)`);
  if (kvHeads > heads || heads % kvHeads !== 0) {
    refuse('kvHeads', `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  }
  if (type === 'q8_0' && (hidden % 32 !== 0 || ffn % 32 !== 0)) {
    refuse('type', `q8_0 needs hidden (${hidden}) and ffn (${ffn}) to be multiples of 32`);
  }
  if (options.vocabSize !== undefined && vocab !== 'toy')
    refuse('vocabSize', 'vocabSize applies to the toy vocab');
  return {
    layers,
    hidden,
    heads,
    kvHeads,
    ffn,
    vocab,
    type,
    think,
    contextLength,
    vocabSize: options.vocabSize,
  };
}

/** Elements of every tensor of a llama model with this shape and vocabulary size. */
export function countParameters(shape: ModelShape, vocabSize: number): number {
  const { hidden, ffn, layers } = shape;
  const kvDim = (hidden / shape.heads) * shape.kvHeads;
  const perLayer = 2 * hidden + 2 * hidden * hidden + 2 * hidden * kvDim + 3 * hidden * ffn;
  return 2 * vocabSize * hidden + hidden + layers * perLayer;
}

/** Refuses shapes whose parameter count is beyond what a generated test model should be. */
export function checkParameterCount(shape: ModelShape, vocabSize: number): number {
  const parameters = countParameters(shape, vocabSize);
  if (parameters > modelShapeLimits.maxParameters) {
    refuse('layers', `${parameters} parameters is more than the ${modelShapeLimits.maxParameters} allowed`);
  }
  return parameters;
}
