import type { GgufValue } from './gguf-types.js';

/** A tokenizer to embed in a generated model, as the tokenizer.ggml.* metadata llama.cpp reads. */
export interface ModelVocab {
  name: 'toy' | 'qwen2' | 'deepseek';
  size: number;
  bosId: number;
  eosId: number;
  /** All tokenizer.ggml.* entries (model, tokens, token types, merges or scores, special ids). */
  metadata: Map<string, GgufValue>;
  /** The id of the single token whose decoded text is exactly `text`, if there is one. */
  tokenId(text: string): number | undefined;
}

/** llama.cpp's token types (tokenizer.ggml.token_type values). */
export const tokenTypes = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

let byteToUnicode: string[] | undefined;

/** GPT-2's bytes_to_unicode table: printable bytes map to themselves, the rest to code points from U+0100. */
function gpt2ByteTable(): string[] {
  if (byteToUnicode) return byteToUnicode;
  const table: string[] = new Array<string>(256);
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : next++);
  byteToUnicode = table;
  return table;
}

/** How a byte-level BPE vocabulary (tokenizer.ggml.model = gpt2) spells `text`: " a" → "Ġa", "\n" → "Ċ". */
export function gpt2TokenSpelling(text: string): string {
  const table = gpt2ByteTable();
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += table[byte];
  return out;
}

/** How a SentencePiece vocabulary (tokenizer.ggml.model = llama) spells `text`: spaces become "▁". */
export function spmTokenSpelling(text: string): string {
  if (text.length === 1 && text.charCodeAt(0) < 0x20) {
    return `<0x${text.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}>`;
  }
  return text.replaceAll(' ', '▁');
}
