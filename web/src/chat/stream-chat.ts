import { authHeaders, toApiError } from '../api/client';
import { siteFromHeader } from './site-header';
import { SseParser } from './sse-parser';

export interface ChatMessage {
  role: 'user' | 'assistant' | 'system';
  content: string;
}

/** What the page shows of an answer while it streams and once it is done. */
export interface ChatAnswer {
  reasoning: string;
  content: string;
  /** `x-edgefleet-site` and `x-edgefleet-instance` of the answer. */
  site: string | null;
  instance: string | null;
  startedAtMs: number;
  firstTokenAtMs: number | null;
  lastTokenAtMs: number | null;
  /** Text pieces received (an estimate of tokens until the usage chunk arrives). */
  chunks: number;
  promptTokens: number | null;
  completionTokens: number | null;
  finishReason: string | null;
  done: boolean;
  error: string | null;
}

interface ChunkJson {
  choices?: Array<{
    delta?: { content?: string | null; reasoning_content?: string | null };
    finish_reason?: string | null;
  }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/**
 * Sends a streamed chat completion through the gateway (`/v1/chat/completions`, same origin, admin key)
 * and reports the growing answer to `onUpdate` after each event.
 */
export async function streamChat(options: {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  signal: AbortSignal;
  onUpdate: (answer: ChatAnswer) => void;
}): Promise<ChatAnswer> {
  const answer: ChatAnswer = {
    reasoning: '',
    content: '',
    site: null,
    instance: null,
    startedAtMs: performance.now(),
    firstTokenAtMs: null,
    lastTokenAtMs: null,
    chunks: 0,
    promptTokens: null,
    completionTokens: null,
    finishReason: null,
    done: false,
    error: null,
  };
  const update = (): void => options.onUpdate({ ...answer });
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({
      model: options.model,
      messages: options.messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(options.maxTokens !== undefined && { max_tokens: options.maxTokens }),
      ...(options.temperature !== undefined && { temperature: options.temperature }),
    }),
    signal: options.signal,
  });
  answer.site = siteFromHeader(response.headers.get('x-edgefleet-site'));
  answer.instance = response.headers.get('x-edgefleet-instance');
  if (!response.ok || !response.body) {
    answer.error = (await toApiError(response)).message;
    answer.done = true;
    update();
    return answer;
  }
  update();
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const handle = (payload: string): void => {
    if (payload === '[DONE]') {
      answer.done = true;
      return;
    }
    const chunk = JSON.parse(payload) as ChunkJson;
    if (chunk.error) {
      answer.error = chunk.error.message ?? 'the stream broke';
      return;
    }
    const choice = chunk.choices?.[0];
    const reasoning = choice?.delta?.reasoning_content ?? '';
    const content = choice?.delta?.content ?? '';
    if (reasoning || content) {
      const now = performance.now();
      answer.firstTokenAtMs ??= now;
      answer.lastTokenAtMs = now;
      answer.chunks++;
      answer.reasoning += reasoning;
      answer.content += content;
    }
    if (choice?.finish_reason) answer.finishReason = choice.finish_reason;
    if (chunk.usage) {
      answer.promptTokens = chunk.usage.prompt_tokens ?? null;
      answer.completionTokens = chunk.usage.completion_tokens ?? null;
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    const payloads = done ? parser.end() : parser.push(value);
    for (const payload of payloads) handle(payload);
    if (payloads.length > 0) update();
    if (done) break;
  }
  if (!answer.done && !answer.error) answer.error = 'the stream ended before [DONE]';
  answer.done = true;
  update();
  return answer;
}
