import type { Token } from 'node-llama-cpp';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { ChatCompletionRequest, CompletionRequest } from '../../spec/openai-requests.js';
import type { LlamaRuntime } from './llama-runtime.js';
import { promptOpensThink } from './reasoning-splitter.js';
import type { SamplingParams } from './text-generator.js';

/** A validated request turned into what the engine runs: prompt tokens and sampling parameters. */
export interface GenerationRequest {
  promptTokens: Token[];
  params: SamplingParams;
  /** The prompt left a `<think>` block open: output starts as reasoning. */
  startsInReasoning: boolean;
}

export function prepareChat(runtime: LlamaRuntime, body: ChatCompletionRequest): GenerationRequest {
  const prompt = runtime.chatPrompt.render(body.messages);
  const request = {
    promptTokens: tokenizePrompt(runtime, prompt),
    params: samplingOf(body, body.max_completion_tokens ?? body.max_tokens),
    startsInReasoning: promptOpensThink(prompt),
  };
  const maxTokensParam = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  checkContext(request, runtime.contextSize, 'messages', maxTokensParam);
  return request;
}

export function prepareCompletion(runtime: LlamaRuntime, body: CompletionRequest): GenerationRequest {
  const prompt = typeof body.prompt === 'string' ? body.prompt : (body.prompt[0] ?? '');
  const request = {
    promptTokens: tokenizePrompt(runtime, prompt),
    params: samplingOf(body, body.max_tokens),
    startsInReasoning: false,
  };
  checkContext(request, runtime.contextSize, 'prompt');
  return request;
}

function tokenizePrompt(runtime: LlamaRuntime, prompt: string): Token[] {
  const tokens = runtime.model.tokenize(prompt, true);
  const bos = runtime.model.tokens.bos;
  if (runtime.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
  if (tokens.length === 0)
    throw new EdgeFleetError('invalid_request', 'the prompt is empty', { param: 'prompt' });
  return tokens;
}

type SamplingFields = Pick<
  CompletionRequest,
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'seed'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'repetition_penalty'
  | 'stop'
  | 'ignore_eos'
>;

/** Sampling parameters with OpenAI's defaults; maxTokens 0 means "not given" until checkContext fills it. */
export function samplingOf(
  body: SamplingFields,
  requestedMaxTokens: number | null | undefined,
): SamplingParams {
  return {
    maxTokens: requestedMaxTokens ?? 0,
    temperature: body.temperature ?? 1,
    ...(body.top_p != null && { topP: body.top_p }),
    // -1 and 0 are "no top-k"; node-llama-cpp takes 0 for that (the whole vocabulary), and its default
    // when topK is left out is 40, as llama-server's.
    ...(body.top_k != null && { topK: Math.max(0, body.top_k) }),
    ...(body.min_p != null && { minP: body.min_p }),
    ...(body.seed != null && { seed: body.seed }),
    presencePenalty: body.presence_penalty ?? 0,
    frequencyPenalty: body.frequency_penalty ?? 0,
    repetitionPenalty: body.repetition_penalty ?? 1,
    stop:
      body.stop == null
        ? []
        : (typeof body.stop === 'string' ? [body.stop] : body.stop).filter((s) => s !== ''),
    ignoreEos: body.ignore_eos ?? false,
  };
}

/**
 * Refuses prompts that do not fit the slot's context, as vLLM does (400 with both numbers), and
 * fills in max_tokens when the client left it out: whatever room the context has left.
 */
export function checkContext(
  request: GenerationRequest,
  contextSize: number,
  promptParam: string,
  maxTokensParam = 'max_tokens',
): void {
  const promptLength = request.promptTokens.length;
  if (promptLength >= contextSize) {
    throw new EdgeFleetError(
      'context_length_exceeded',
      `This model's maximum context length is ${contextSize} tokens. However, your prompt is ${promptLength} tokens, leaving no room for the completion.`,
      { param: promptParam, data: { contextSize, promptTokens: promptLength } },
    );
  }
  if (request.params.maxTokens === 0) {
    request.params.maxTokens = contextSize - promptLength;
    return;
  }
  if (promptLength + request.params.maxTokens > contextSize) {
    throw new EdgeFleetError(
      'context_length_exceeded',
      `This model's maximum context length is ${contextSize} tokens. However, you requested ${promptLength + request.params.maxTokens} tokens (${promptLength} in the prompt, ${request.params.maxTokens} for the completion). Reduce the prompt or ${maxTokensParam}.`,
      { param: maxTokensParam, data: { contextSize, promptTokens: promptLength } },
    );
  }
}
