import {
  getLlama,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
} from 'node-llama-cpp';
import { readGgufHeader } from '../../catalog/gguf/read-gguf-header.js';
import type { Logger } from '../../telemetry/logger.js';
import { ChatPrompt } from './chat-prompt.js';
import { BatchGate } from './batch-gate.js';
import { cpuPrefillChunk, type EngineOptions } from './engine-options.js';
import { sequenceOrderedStrategy, type QueuedDecodeView } from './sequence-order.js';
import { SlotPool } from './slot-pool.js';

/** One loaded model: llama.cpp, the model, one context with `parallel` sequences, and the slot pool. */
export class LlamaRuntime {
  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly sequences: readonly LlamaContextSequence[],
    readonly slots: SlotPool<LlamaContextSequence>,
    readonly chatPrompt: ChatPrompt,
    readonly gate: BatchGate,
  ) {}

  static async load(options: EngineOptions, log: Logger): Promise<LlamaRuntime> {
    const startedAt = performance.now();
    // A malformed GGUF makes llama.cpp abort the process; check the header first and fail with a reason.
    await readGgufHeader(options.modelPath);
    const llama = await getLlama({
      gpu: options.gpu,
      build: 'never',
      skipDownload: true,
      maxThreads: options.threads,
      logger: (level, message) => {
        const text = message.trim();
        if (text === '') return;
        if (level === 'error' || level === 'fatal') log.error({ llama: true }, text);
        else if (level === 'warn') log.warn({ llama: true }, text);
        else log.trace({ llama: true }, text);
      },
    });
    log.info({ gpu: llama.gpu, threads: options.threads, modelPath: options.modelPath }, 'loading model');
    const model = await llama.loadModel({
      modelPath: options.modelPath,
      gpuLayers: llama.gpu === false ? 0 : 'auto',
      onLoadProgress: (progress) => log.debug({ progress }, 'model load progress'),
    });
    // 'auto': chunks where prompts are evaluated on the CPU (no GPU, or a model none of whose layers fit
    // on it); a model offloaded to a GPU, even in part, evaluates a whole batch in milliseconds there.
    const onCpu = llama.gpu === false || model.gpuLayers === 0;
    const prefillChunk =
      options.prefillChunk !== 'auto' ? options.prefillChunk : onCpu ? cpuPrefillChunk : options.batchSize;
    const gate = new BatchGate(undefined, prefillChunk);
    let queuedDecodes: () => readonly QueuedDecodeView[] = () => [];
    const context = await model.createContext({
      sequences: options.parallel,
      contextSize: options.contextSize,
      batchSize: Math.max(options.batchSize, options.parallel),
      threads: { ideal: options.threads, min: options.threads },
      batching: {
        dispatchSchedule: (dispatch) => gate.schedule(dispatch),
        itemPrioritizationStrategy: sequenceOrderedStrategy(() => queuedDecodes(), prefillChunk),
      },
    });
    // node-llama-cpp keeps its queue in internal fields (pinned version 3.21.1). Without them the gate
    // dispatches at once and batches keep the library's order: slower, never wrong.
    const internals = context as unknown as {
      _queuedDecodeSequenceIds?: Set<number>;
      _queuedDecodes?: QueuedDecodeView[];
    };
    queuedDecodes = () => internals._queuedDecodes ?? [];
    const queued = internals._queuedDecodeSequenceIds;
    gate.bindQueueProbe(() => queued?.size ?? Number.POSITIVE_INFINITY);
    const sequences = Array.from({ length: options.parallel }, () => context.getSequence());
    const metadata = model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } };
    const template = metadata.tokenizer?.chat_template;
    const chatPrompt = new ChatPrompt(typeof template === 'string' ? template : undefined, {
      bos: model.tokens.bosString ?? '',
      eos: model.tokens.eosString ?? '',
    });
    if (chatPrompt.usesFallback) log.warn('the model has no chat template; using ChatML');
    log.info(
      {
        loadMs: Math.round(performance.now() - startedAt),
        contextSize: context.contextSize,
        parallel: options.parallel,
        batchSize: context.batchSize,
        prefillChunk,
        ramBytes: model.memoryUsage.ram,
        vramBytes: model.memoryUsage.vram,
      },
      'model loaded',
    );
    return new LlamaRuntime(
      llama,
      model,
      context,
      sequences,
      new SlotPool(sequences, options.maxQueue),
      chatPrompt,
      gate,
    );
  }

  /** Tokens per slot (prompt + completion). */
  get contextSize(): number {
    return this.context.contextSize;
  }

  tokenize(text: string): number[] {
    return this.model.tokenize(text, true);
  }

  async dispose(): Promise<void> {
    await this.llama.dispose();
  }
}
