import type { BatchItem, PrioritizedBatchItem } from 'node-llama-cpp';

/** What node-llama-cpp keeps per queued decode (internal in the pinned 3.21.1; only these two fields are read). */
export interface QueuedDecodeView {
  sequenceId: number;
  tokens: readonly number[];
}

/**
 * A batch-prioritization strategy for node-llama-cpp that puts batch items in sequence-id order.
 * With a per-sequence KV cache, llama.cpp packs only sequences with consecutive ids, in batch order,
 * into one micro-batch (llama_batch_allocr::split_equal with `sequential`); in any other order a 4-stream
 * step is split into several decodes that each read all the weights.
 *
 * Every single-token item (a stream's next step) goes first, in sequence-id order; then at most one
 * multi-token item (a prompt), the one queued first, takes what is left of the batch size, last, but at
 * most `prefillChunk` tokens when single tokens are in the batch (chunked prefill, as vLLM's and SGLang's
 * per-step token budgets: a long prompt then holds the others back by that much at a time, not a whole
 * batch; alone, it takes the whole batch). Other prompts wait for the next decode, which node-llama-cpp
 * runs at once.
 *
 * Why one prompt, last: split_equal puts the same number of tokens of every sequence in a micro-batch, so
 * a short item ahead of a longer one finishes in an earlier micro-batch, and llama.cpp then has to put its
 * outputs back in batch order. It does that lazily, on the first logits read after the decode, and not
 * thread-safely; node-llama-cpp samples each sequence in its own worker thread, so two streams that read
 * at once can swap rows and get each other's token (seen as one request answering "HelloHello! …" and the
 * other "! …"). With single tokens first and one prompt last, every output comes out in batch order and
 * nothing is reordered: a prompt gets at most one token per micro-batch while any single is left, so its
 * last token, the only one with an output, is always decoded after them (capped, the prompt's part in a
 * batch holds no output token, or it is still last).
 */
export function sequenceOrderedStrategy(
  queued: () => readonly QueuedDecodeView[],
  prefillChunk = Number.POSITIVE_INFINITY,
) {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] => {
    const sequenceOf = new Map<readonly number[], number>();
    for (const decode of queued()) sequenceOf.set(decode.tokens, decode.sequenceId);
    const singles = items
      .filter((item) => item.tokens.length === 1)
      .sort((a, b) => (sequenceOf.get(a.tokens) ?? Infinity) - (sequenceOf.get(b.tokens) ?? Infinity));
    const prompt = items.find((item) => item.tokens.length > 1);
    const result: PrioritizedBatchItem[] = [];
    let left = size;
    for (const item of singles) {
      if (left <= 0) break;
      result.push({ item, processAmount: 1 });
      left--;
    }
    if (prompt !== undefined && left > 0) {
      const budget = result.length > 0 ? Math.max(1, prefillChunk) : left;
      result.push({ item: prompt, processAmount: Math.min(prompt.tokens.length, left, budget) });
    }
    return result;
  };
}
