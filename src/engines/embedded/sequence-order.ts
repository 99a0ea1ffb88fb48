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
 * step is split into several decodes that each read all the weights. Within the batch size every item
 * first gets one token (all streams advance), then prompts take what is left, in the same order.
 */
export function sequenceOrderedStrategy(queued: () => readonly QueuedDecodeView[]) {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] => {
    const sequenceOf = new Map<readonly number[], number>();
    for (const decode of queued()) sequenceOf.set(decode.tokens, decode.sequenceId);
    const ordered = [...items].sort(
      (a, b) => (sequenceOf.get(a.tokens) ?? Infinity) - (sequenceOf.get(b.tokens) ?? Infinity),
    );
    const result: PrioritizedBatchItem[] = [];
    let left = size;
    for (const item of ordered) {
      if (left <= 0) break;
      result.push({ item, processAmount: 1 });
      left--;
    }
    for (const entry of result) {
      const extra = Math.min(entry.item.tokens.length - 1, left);
      entry.processAmount += extra;
      left -= extra;
    }
    return result;
  };
}
