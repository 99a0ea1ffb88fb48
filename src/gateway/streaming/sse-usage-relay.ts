/**
 * Relays an engine's server-sent events to the client event by event while reading what the gateway
 * meters: the time of the first generated text and the `usage` of the last chunk. The final
 * `data: [DONE]` is held back until `finish()`, so the gateway can journal the request before the
 * client sees the stream complete. A usage-only chunk the client did not ask for is dropped.
 */
import { StringDecoder } from 'node:string_decoder';

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

const eventEnd = /\r?\n\r?\n/;

export class SseUsageRelay {
  usage: TokenUsage | null = null;
  /** When the first chunk with generated text passed (ms, the caller's clock). */
  firstTextAtMs: number | null = null;
  /** Chunks that carried generated text (the estimate when the engine reports no usage). */
  textChunks = 0;
  sawDone = false;
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');

  /** @param clientWantsUsage the client set `stream_options.include_usage` itself. */
  constructor(private readonly clientWantsUsage: boolean) {}

  /** The complete events of `chunk` (and earlier partial ones) to send to the client now. */
  push(chunk: Buffer, nowMs: number): string {
    this.pending += this.decoder.write(chunk);
    let out = '';
    for (let match = eventEnd.exec(this.pending); match; match = eventEnd.exec(this.pending)) {
      const end = match.index + match[0].length;
      out += this.relayEvent(this.pending.slice(0, end), nowMs);
      this.pending = this.pending.slice(end);
    }
    return out;
  }

  /** What is left to send when the engine ended its stream normally: a partial event and `[DONE]`. */
  finish(): string {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest + (this.sawDone ? 'data: [DONE]\n\n' : '');
  }

  private relayEvent(event: string, nowMs: number): string {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    if (data === '') return event;
    if (data.trim() === '[DONE]') {
      this.sawDone = true;
      return '';
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return event;
    }
    const chunk = parsed as {
      usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
      choices?: { delta?: { content?: unknown; reasoning_content?: unknown }; text?: unknown }[];
    };
    const usage = readUsage(chunk.usage);
    if (usage) this.usage = usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const hasText = choices.some(
      (c) =>
        nonEmpty(c.delta?.content) ||
        nonEmpty(c.delta?.reasoning_content) ||
        nonEmpty((c as { text?: unknown }).text),
    );
    if (hasText) {
      this.textChunks += 1;
      this.firstTextAtMs ??= nowMs;
    }
    if (usage && choices.length === 0 && !this.clientWantsUsage) return '';
    return event;
  }
}

/** OpenAI's `usage` object, or null when it is absent or malformed. */
export function readUsage(value: unknown): TokenUsage | null {
  if (typeof value !== 'object' || value === null) return null;
  const { prompt_tokens: prompt, completion_tokens: completion } = value as Record<string, unknown>;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return null;
  if (!Number.isFinite(prompt) || !Number.isFinite(completion) || prompt < 0 || completion < 0) return null;
  return { promptTokens: Math.round(prompt), completionTokens: Math.round(completion) };
}

const nonEmpty = (value: unknown): boolean => typeof value === 'string' && value.length > 0;
