import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { LlamaContextSequence } from 'node-llama-cpp';
import { sendJson } from '../../http/respond.js';
import { SseWriter } from '../../http/sse-writer.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { usageOf, type FinishReason, type Usage } from '../../spec/openai-responses.js';
import type { Logger } from '../../telemetry/logger.js';
import type { EngineMetrics } from './engine-metrics.js';
import type { GenerationRequest } from './generation-request.js';
import type { LlamaRuntime } from './llama-runtime.js';
import { ReasoningSplitter, type SplitPiece } from './reasoning-splitter.js';
import { generateText } from './text-generator.js';

export type Endpoint = 'chat' | 'completion';

export interface ServeOptions {
  runtime: LlamaRuntime;
  metrics: EngineMetrics;
  log: Logger;
  modelId: string;
  endpoint: Endpoint;
  stream: boolean;
  includeUsage: boolean;
  receivedAt: number;
}

/**
 * Runs one prepared generation in a slot and answers it in OpenAI's format, streamed (SSE) or not.
 * The slot is freed the moment generation ends, fails or the client goes away.
 */
export async function serveGeneration(
  options: ServeOptions,
  request: GenerationRequest,
  response: ServerResponse,
): Promise<void> {
  const { runtime, metrics, endpoint } = options;
  const abort = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) abort.abort(new EdgeFleetError('invalid_request', 'client disconnected'));
  });
  const format = new ResponseFormat(options);
  const sse = options.stream ? new SseWriter(response) : null;
  const reasoning = endpoint === 'chat' ? new ReasoningSplitter(request.startsInReasoning) : null;
  const collected: SplitPiece = { reasoning: '', content: '' };
  const emit = (piece: SplitPiece) => {
    if (piece.reasoning === '' && piece.content === '') return;
    if (sse) sse.send(format.chunk(piece, null));
    else {
      collected.reasoning += piece.reasoning;
      collected.content += piece.content;
    }
  };

  let slot: LlamaContextSequence | undefined;
  let outcome: FinishReason | 'abort' | 'error' = 'error';
  metrics.requestsWaiting.inc();
  try {
    slot = await runtime.slots.acquire(abort.signal).finally(() => metrics.requestsWaiting.dec());
    metrics.requestsRunning.inc();
    if (sse && endpoint === 'chat') sse.send(format.roleChunk());
    let firstTextAt = 0;
    let lastTokenAt = 0;
    const result = await generateText(
      runtime.model,
      slot,
      runtime.gate,
      request.promptTokens,
      request.params,
      {
        signal: abort.signal,
        onToken: () => {
          const now = performance.now();
          if (lastTokenAt > 0) metrics.interTokenLatency.observe((now - lastTokenAt) / 1000);
          lastTokenAt = now;
        },
        onText: (text) => {
          if (firstTextAt === 0) {
            firstTextAt = performance.now();
            metrics.timeToFirstToken.observe((firstTextAt - options.receivedAt) / 1000);
          }
          emit(reasoning ? reasoning.push(text) : { reasoning: '', content: text });
        },
      },
    );
    if (reasoning) emit(reasoning.end());
    outcome = abort.signal.aborted ? 'abort' : result.finishReason;
    const usage = usageOf(request.promptTokens.length, result.completionTokens);
    metrics.promptTokens.inc(usage.prompt_tokens);
    metrics.cachedPromptTokens.inc(result.cachedPromptTokens);
    metrics.generationTokens.inc(usage.completion_tokens);
    if (outcome === 'abort') return;
    if (sse) {
      sse.send(format.chunk({ reasoning: '', content: '' }, result.finishReason));
      if (options.includeUsage) sse.send(format.usageChunk(usage));
      sse.done();
    } else {
      sendJson(response, 200, format.whole(collected, result.finishReason, usage));
    }
  } catch (error) {
    if (abort.signal.aborted) {
      outcome = 'abort';
      return;
    }
    const failure =
      error instanceof EdgeFleetError ? error : new EdgeFleetError('engine_error', String(error));
    metrics.errors.inc({ code: failure.code });
    options.log.error({ err: error }, 'generation failed');
    if (sse && response.headersSent) sse.fail(failure);
    else throw failure;
  } finally {
    if (slot) {
      runtime.slots.release(slot);
      metrics.requestsRunning.dec();
    }
    metrics.requests.inc({ endpoint, finish_reason: outcome });
    metrics.requestDuration.observe((performance.now() - options.receivedAt) / 1000);
  }
}

/** Builds OpenAI's response objects for one request (same id and timestamp in every chunk). */
class ResponseFormat {
  private readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(private readonly options: ServeOptions) {
    this.id = `${options.endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  }

  private head() {
    return { id: this.id, created: this.created, model: this.options.modelId };
  }

  private usageField() {
    return this.options.includeUsage ? { usage: null } : {};
  }

  roleChunk() {
    return {
      ...this.head(),
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }],
      ...this.usageField(),
    };
  }

  chunk(piece: SplitPiece, finishReason: FinishReason | null) {
    if (this.options.endpoint === 'completion') {
      return {
        ...this.head(),
        object: 'text_completion',
        choices: [{ index: 0, text: piece.content, finish_reason: finishReason, logprobs: null }],
        ...this.usageField(),
      };
    }
    const delta: Record<string, string> = {};
    if (piece.reasoning !== '') delta['reasoning_content'] = piece.reasoning;
    if (piece.content !== '') delta['content'] = piece.content;
    return {
      ...this.head(),
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
      ...this.usageField(),
    };
  }

  usageChunk(usage: Usage) {
    const object = this.options.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    return { ...this.head(), object, choices: [], usage };
  }

  whole(collected: SplitPiece, finishReason: FinishReason, usage: Usage) {
    if (this.options.endpoint === 'completion') {
      return {
        ...this.head(),
        object: 'text_completion',
        choices: [{ index: 0, text: collected.content, finish_reason: finishReason, logprobs: null }],
        usage,
      };
    }
    return {
      ...this.head(),
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: collected.content,
            ...(collected.reasoning !== '' && { reasoning_content: collected.reasoning }),
          },
          finish_reason: finishReason,
          logprobs: null,
        },
      ],
      usage,
    };
  }
}
