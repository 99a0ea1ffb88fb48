import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { deepSeekPlainTemplate, deepSeekR1Template, generationPromptSuffix } from './chat-templates.js';
import { chainPieces, expectedOutput, resolveChain, type ExpectedOutput } from './deterministic-chain.js';
import type { GgufValue } from './gguf-types.js';
import type { ModelVocab } from './model-vocab.js';
import {
  checkParameterCount,
  resolveModelShape,
  type MakeModelOptions,
  type ModelShape,
} from './model-shape.js';
import { loadRealVocab } from './real-vocab.js';
import type { EncodableType } from './tensor-encoding.js';
import { buildToyVocab } from './toy-vocab.js';
import { writeGguf, type GgufTensorSpec } from './write-gguf.js';

export type { MakeModelOptions, ModelShape } from './model-shape.js';

/** A generated model and what it will answer. */
export interface MadeModel extends ExpectedOutput {
  path: string;
  bytes: number;
  parameters: number;
  shape: ModelShape;
  vocabSize: number;
  chatTemplate: string;
  /** What the chat template's generation prompt ends with ("<｜Assistant｜>" or "<｜Assistant｜><think>\n"). */
  generationPromptSuffix: string;
  /** The chain's tokens in order; greedy decoding ends each chain with `eosTokenId`. */
  chainTokenIds: number[];
  bosTokenId: number;
  eosTokenId: number;
}

/** Logit of the next chain token; every other logit is 0, so even sampling at temperature 1 follows the chain. */
const CHAIN_LOGIT = 40;

const fileTypes: Record<ModelShape['type'], { tensor: EncodableType; fileType: number }> = {
  f32: { tensor: 'F32', fileType: 0 },
  f16: { tensor: 'F16', fileType: 1 },
  q8_0: { tensor: 'Q8_0', fileType: 7 },
};

/** Small deterministic pseudo-random weights (mulberry32) for matrices whose values do not matter. */
function noise(seed: number): (rowIndex: number, out: Float32Array) => void {
  let state = seed >>> 0;
  return (_rowIndex, out) => {
    for (let i = 0; i < out.length; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * 0.05;
    }
  };
}

/**
 * Writes a llama-architecture GGUF v3 model whose greedy output is known in advance.
 *
 * The weights: the attention output and FFN down projections are zero, so each block adds nothing to the
 * residual stream and the final hidden state is the last token's embedding. Embeddings are one-hot: a
 * chain token i gets direction i + 1, every other token (BOS, template tags, prompt text) direction 0.
 * Output row of chain token i + 1 reads direction i + 1 (row of chain token 0 reads direction 0; EOS reads
 * the last chain token's direction), so the argmax after any token is its successor in the chain. The
 * other matrices hold small noise so that every kernel does real work. See deterministic-chain.ts for the
 * text and which prompts produce which part of it.
 */
export async function makeModel(outPath: string, options: MakeModelOptions = {}): Promise<MadeModel> {
  const shape = resolveModelShape(options);
  const vocab: ModelVocab =
    shape.vocab === 'toy'
      ? buildToyVocab(shape.vocabSize)
      : await loadRealVocab(shape.vocab, options.vocabCacheDir);
  const parameters = checkParameterCount(shape, vocab.size);
  const chain = resolveChain(chainPieces(shape.think), (text) => vocab.tokenId(text), [
    vocab.bosId,
    vocab.eosId,
  ]);
  if (chain.tokenIds.length + 1 > shape.hidden) {
    throw new EdgeFleetError(
      'invalid_argument',
      `cannot make model: hidden must be at least ${chain.tokenIds.length + 1} (one dimension per chain token)`,
      { param: 'hidden' },
    );
  }
  const expected = expectedOutput(chain, shape.think);

  const { hidden, ffn } = shape;
  const kvDim = (hidden / shape.heads) * shape.kvHeads;
  const state = new Map<number, number>(chain.tokenIds.map((id, i) => [id, i + 1]));
  // predecessorState.get(t) = the state whose argmax is token t.
  const predecessorState = new Map<number, number>(chain.tokenIds.map((id, i) => [id, i]));
  predecessorState.set(vocab.eosId, chain.tokenIds.length);
  const outputValue = CHAIN_LOGIT / Math.sqrt(hidden);

  const matrix = fileTypes[shape.type].tensor;
  const ones = (_: number, out: Float32Array): void => void out.fill(1);
  const zeros = (): void => undefined;
  const tensors: GgufTensorSpec[] = [
    {
      name: 'token_embd.weight',
      dims: [hidden, vocab.size],
      type: matrix,
      fillRow: (token, out) => void (out[state.get(token) ?? 0] = 1),
    },
    { name: 'output_norm.weight', dims: [hidden], type: 'F32', fillRow: ones },
    {
      name: 'output.weight',
      dims: [hidden, vocab.size],
      type: matrix,
      fillRow: (token, out) => {
        const from = predecessorState.get(token);
        if (from !== undefined) out[from] = outputValue;
      },
    },
  ];
  for (let layer = 0; layer < shape.layers; layer++) {
    const blk = `blk.${layer}`;
    const seed = (layer + 1) * 7919;
    tensors.push(
      { name: `${blk}.attn_norm.weight`, dims: [hidden], type: 'F32', fillRow: ones },
      { name: `${blk}.attn_q.weight`, dims: [hidden, hidden], type: matrix, fillRow: noise(seed + 1) },
      { name: `${blk}.attn_k.weight`, dims: [hidden, kvDim], type: matrix, fillRow: noise(seed + 2) },
      { name: `${blk}.attn_v.weight`, dims: [hidden, kvDim], type: matrix, fillRow: noise(seed + 3) },
      { name: `${blk}.attn_output.weight`, dims: [hidden, hidden], type: matrix, fillRow: zeros },
      { name: `${blk}.ffn_norm.weight`, dims: [hidden], type: 'F32', fillRow: ones },
      { name: `${blk}.ffn_gate.weight`, dims: [hidden, ffn], type: matrix, fillRow: noise(seed + 4) },
      { name: `${blk}.ffn_up.weight`, dims: [hidden, ffn], type: matrix, fillRow: noise(seed + 5) },
      { name: `${blk}.ffn_down.weight`, dims: [ffn, hidden], type: matrix, fillRow: zeros },
    );
  }

  const chatTemplate = shape.think ? deepSeekR1Template : deepSeekPlainTemplate;
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufValue => ({ type: 'f32', value });
  const str = (value: string): GgufValue => ({ type: 'string', value });
  const name = `edgefleet-${shape.vocab}-${shape.layers}l-${hidden}d-${shape.type}${shape.think ? '-think' : ''}`;
  const metadata: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['general.name', str(name)],
    ['general.file_type', u32(fileTypes[shape.type].fileType)],
    ...(shape.type === 'q8_0' ? ([['general.quantization_version', u32(2)]] as [string, GgufValue][]) : []),
    ['llama.vocab_size', u32(vocab.size)],
    ['llama.context_length', u32(shape.contextLength)],
    ['llama.embedding_length', u32(hidden)],
    ['llama.block_count', u32(shape.layers)],
    ['llama.feed_forward_length', u32(ffn)],
    ['llama.attention.head_count', u32(shape.heads)],
    ['llama.attention.head_count_kv', u32(shape.kvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['llama.rope.dimension_count', u32(hidden / shape.heads)],
    ['llama.rope.freq_base', f32(10000)],
    ...vocab.metadata,
    ['tokenizer.chat_template', str(chatTemplate)],
    ['edgefleet.test.expected_text', str(expected.expectedText)],
    ['edgefleet.test.full_chain_text', str(expected.fullChainText)],
  ];
  await mkdir(dirname(outPath), { recursive: true });
  const bytes = await writeGguf(outPath, { metadata, tensors });
  return {
    path: outPath,
    bytes,
    parameters,
    shape,
    vocabSize: vocab.size,
    chatTemplate,
    generationPromptSuffix: shape.think ? generationPromptSuffix.think : generationPromptSuffix.plain,
    chainTokenIds: chain.tokenIds,
    bosTokenId: vocab.bosId,
    eosTokenId: vocab.eosId,
    ...expected,
  };
}
