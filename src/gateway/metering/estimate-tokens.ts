/**
 * The last resort for usage when an engine reports none and the instance has no tokenizer API (an older
 * server behind `edgefleet endpoints add`): a token count estimated from the text, so a request never
 * counts as zero tokens against its key's limits and the client still gets `usage`. About 4 bytes of
 * UTF-8 per token: ~4 characters of English text, ~1.3 characters of Chinese (3 bytes each), close to
 * what the BPE tokenizers of DeepSeek, Qwen and Llama give; each chat message adds 4 tokens for its role
 * and the template's markers, as OpenAI counts them. Records counted this way say `usageEstimated`.
 */
import { promptPieces, type PromptToCount } from './engine-token-counter.js';

const bytesPerToken = 4;
const tokensPerMessage = 4;
/** The assistant turn the template opens after the last message. */
const tokensPerReply = 3;

/** Estimated tokens of a text. */
export function estimateTextTokens(text: string): number {
  return text === '' ? 0 : Math.ceil(Buffer.byteLength(text, 'utf8') / bytesPerToken);
}

/** Estimated tokens of what the client sent: a chat's messages or a completion's prompt(s). */
export function estimatePromptTokens(prompt: PromptToCount | undefined): number {
  if (!prompt) return 0;
  if (Array.isArray(prompt.messages)) {
    let tokens = tokensPerReply;
    for (const message of prompt.messages as unknown[]) {
      tokens += tokensPerMessage;
      if (typeof message !== 'object' || message === null) continue;
      const { content } = message as { content?: unknown };
      tokens += estimateTextTokens(contentText(content));
    }
    return tokens;
  }
  let tokens = 0;
  for (const piece of promptPieces(prompt.prompt) ?? []) {
    tokens += typeof piece === 'string' ? estimateTextTokens(piece) : (piece ?? 0);
  }
  return tokens;
}

/** A message's text: a string, or the `text` of its content parts (images and audio are not counted). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content as unknown[]) {
    const value = typeof part === 'object' && part !== null ? (part as { text?: unknown }).text : undefined;
    if (typeof value === 'string') text += value;
  }
  return text;
}
