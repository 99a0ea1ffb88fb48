import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { r1Tokens } from './chat-templates.js';

/**
 * The fixed answer a generated model gives. Each piece is one token; greedy decoding moves from a piece to
 * the next one because the weights make the output depend only on the last token. Any token that is not
 * in the chain (BOS, the template's assistant tag, ordinary prompt text) leads to the first piece; the last
 * piece leads to EOS. So a prompt ending in an ordinary token yields the whole chain, and a prompt ending in
 * a chain token (the think template ends with "<think>\n") yields the rest of the chain after it.
 * Pieces must be distinct tokens, which is why no word repeats.
 */
export interface ChainPiece {
  text: string;
  /** Left out when the vocabulary has no single token for it (DeepSeek-LLM has no ".\n" or "\n\n"). */
  optional?: boolean;
}

export const answerPieces: readonly string[] = [
  'Hello',
  '!',
  ' I',
  ' am',
  ' a',
  ' tiny',
  ' test',
  ' model',
  ' and',
  ' this',
  ' answer',
  ' is',
  ' always',
  ' the',
  ' same',
  '.',
];

export const reasoningPieces: readonly string[] = [
  'Okay',
  ',',
  ' let',
  ' me',
  ' recall',
  ' my',
  ' fixed',
  ' reply',
];

/** The chain's pieces: the answer, or for a thinking model "<think>\n" reasoning "</think>" answer. */
export function chainPieces(think: boolean): ChainPiece[] {
  const answer = answerPieces.map((text) => ({ text }));
  if (!think) return answer;
  return [
    { text: r1Tokens.thinkOpen },
    { text: '\n' },
    ...reasoningPieces.map((text) => ({ text })),
    { text: '.\n', optional: true },
    { text: r1Tokens.thinkClose },
    { text: '\n\n', optional: true },
    ...answer,
  ];
}

/** A chain resolved against one vocabulary. */
export interface ResolvedChain {
  tokenIds: number[];
  texts: string[];
}

/** Finds each piece's token id; leaves out optional pieces the vocabulary lacks. */
export function resolveChain(
  pieces: readonly ChainPiece[],
  tokenId: (text: string) => number | undefined,
  reserved: readonly number[],
): ResolvedChain {
  const tokenIds: number[] = [];
  const texts: string[] = [];
  for (const piece of pieces) {
    const id = tokenId(piece.text);
    if (id === undefined) {
      if (piece.optional) continue;
      throw new EdgeFleetError('internal_error', `vocabulary has no token for ${JSON.stringify(piece.text)}`);
    }
    if (tokenIds.includes(id) || reserved.includes(id)) {
      throw new EdgeFleetError(
        'internal_error',
        `token ${id} (${JSON.stringify(piece.text)}) repeats in the chain`,
      );
    }
    tokenIds.push(id);
    texts.push(piece.text);
  }
  return { tokenIds, texts };
}

/** What greedy decoding produces, as text, for the prompts tests use. */
export interface ExpectedOutput {
  /** After the embedded chat template's generation prompt (chat completions). */
  expectedText: string;
  /** After a prompt whose last token is not in the chain (e.g. a raw completion prompt ending in ":"). */
  fullChainText: string;
  /** Think models: the reasoning between the think tags, trimmed. */
  expectedReasoning?: string;
  /** Think models: the answer after "</think>", trimmed. */
  expectedContent?: string;
}

export function expectedOutput(chain: ResolvedChain, think: boolean): ExpectedOutput {
  const fullChainText = chain.texts.join('');
  if (!think) return { expectedText: fullChainText, fullChainText };
  // The R1 template's generation prompt ends with "<think>\n": the model continues after the newline piece.
  const newline = chain.texts.indexOf('\n');
  const expectedText = chain.texts.slice(newline + 1).join('');
  const close = chain.texts.indexOf(r1Tokens.thinkClose);
  return {
    expectedText,
    fullChainText,
    expectedReasoning: chain.texts
      .slice(newline + 1, close)
      .join('')
      .trim(),
    expectedContent: chain.texts
      .slice(close + 1)
      .join('')
      .trim(),
  };
}
