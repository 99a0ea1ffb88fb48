import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { r1ControlTokens, r1TextTokens, r1Tokens } from './chat-templates.js';
import { chainPieces } from './deterministic-chain.js';
import { spmTokenSpelling, tokenTypes, type ModelVocab } from './model-vocab.js';

/** Most tokens a toy vocabulary may be padded to. */
export const TOY_VOCAB_MAX = 1_048_576;

/**
 * Builds the toy SentencePiece vocabulary (tokenizer.ggml.model = llama, no space prefix): `<unk>`, the
 * DeepSeek-R1 control tokens (BOS = 1, EOS = 2, `<｜User｜>`, `<｜Assistant｜>`, tool tags), `<think>` and
 * `</think>` as user-defined text tokens, the 256 byte tokens (so any text tokenizes), printable ASCII,
 * every chain word with all its prefixes (so "Hello! I am" tokenizes to the chain's own tokens), then filler
 * tokens up to `size` when a bigger vocabulary is wanted.
 */
export function buildToyVocab(size?: number): ModelVocab {
  const tokens: string[] = [];
  const types: number[] = [];
  const ids = new Map<string, number>();
  const add = (text: string, type: number): void => {
    if (ids.has(text)) return;
    ids.set(text, tokens.length);
    tokens.push(text);
    types.push(type);
  };

  add('<unk>', tokenTypes.unknown);
  for (const text of r1ControlTokens) add(text, tokenTypes.control);
  for (const text of r1TextTokens) add(text, tokenTypes.userDefined);
  for (let b = 0; b < 256; b++) add(`<0x${hex(b)}>`, tokenTypes.byte);
  add('▁', tokenTypes.normal);
  for (let c = 0x21; c <= 0x7e; c++) add(String.fromCharCode(c), tokenTypes.normal);
  for (const piece of chainPieces(true)) {
    if (r1TextTokens.includes(piece.text) || piece.text === '\n') continue;
    const chars = [...spmTokenSpelling(piece.text)];
    for (let end = 2; end <= chars.length; end++) add(chars.slice(0, end).join(''), tokenTypes.normal);
  }
  const natural = tokens.length;
  const target = size ?? natural;
  if (!Number.isInteger(target) || target < natural || target > TOY_VOCAB_MAX) {
    throw new EdgeFleetError(
      'invalid_argument',
      `toy vocabulary size must be an integer from ${natural} to ${TOY_VOCAB_MAX}, got ${target}`,
      { param: 'vocabSize' },
    );
  }
  for (let n = 0; tokens.length < target; n++) add(`▁filler${n}`, tokenTypes.normal);

  const scores = types.map((type, id) => (type === tokenTypes.normal ? -id : 0));
  const bosId = ids.get(r1Tokens.bos) ?? 1;
  const eosId = ids.get(r1Tokens.eos) ?? 2;
  return {
    name: 'toy',
    size: tokens.length,
    bosId,
    eosId,
    metadata: new Map([
      ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
      ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: scores }],
      ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: types }],
      ['tokenizer.ggml.bos_token_id', { type: 'u32', value: bosId }],
      ['tokenizer.ggml.eos_token_id', { type: 'u32', value: eosId }],
      ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
      ['tokenizer.ggml.padding_token_id', { type: 'u32', value: eosId }],
      ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
      ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
      ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: false }],
    ]),
    tokenId: (text) => ids.get(spmTokenSpelling(text)),
  };
}

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}
