/**
 * Counts an answer's tokens with the model's own tokenizer when its engine answered without `usage`, by
 * asking the instance that served it. Two tokenizer APIs are spoken:
 * - vLLM's `POST /tokenize` `{model, prompt | messages, add_special_tokens, add_generation_prompt}` →
 *   `{count, tokens, max_model_len}`;
 * - llama.cpp's server: `POST /apply-template {messages}` → `{prompt}` (the chat template applied), then
 *   `POST /tokenize {content, add_special}` → `{tokens}`.
 * One `/tokenize` body carries both field sets (each server ignores the other's). Any failure (no such
 * API, a timeout, an implausible answer) gives null, and the caller falls back to an estimate.
 */
import { request } from 'undici';
import type { RouteInstance } from '../../spec/route-table.js';
import { readUsage, type TokenUsage } from '../streaming/sse-usage-relay.js';
import { upstreamAgent, upstreamUrl } from '../streaming/upstream-pool.js';

/** What the client asked for: a chat's `messages` or a completion's `prompt`. */
export interface PromptToCount {
  model: string;
  messages?: unknown;
  prompt?: unknown;
}

export type CountTokens = (
  instance: RouteInstance,
  prompt: PromptToCount,
  completionText: string,
) => Promise<TokenUsage | null>;

/** The whole count (prompt and completion, up to four calls) gives up after this long. */
const defaultTimeoutMs = 2000;

/** A token counter that asks each instance's own tokenizer API. */
export function engineTokenCounter(timeoutMs = defaultTimeoutMs): CountTokens {
  return async (instance, asked, completionText) => {
    // The name the instance serves the model under (an endpoint's upstream name): vLLM knows no other.
    const prompt = instance.upstreamModel === undefined ? asked : { ...asked, model: instance.upstreamModel };
    const signal = AbortSignal.timeout(timeoutMs);
    const call = (path: string, body: unknown) => postJson(instance, path, body, signal);
    try {
      const [promptTokens, completionTokens] = await Promise.all([
        countPrompt(call, prompt),
        completionText === '' ? 0 : countText(call, prompt.model, completionText, false),
      ]);
      if (promptTokens === null || completionTokens === null) return null;
      return readUsage({ prompt_tokens: promptTokens, completion_tokens: completionTokens });
    } catch {
      return null;
    }
  };
}

type Call = (path: string, body: unknown) => Promise<Record<string, unknown> | null>;

async function countPrompt(call: Call, prompt: PromptToCount): Promise<number | null> {
  if (Array.isArray(prompt.messages)) {
    // llama.cpp's server renders the template itself; vLLM tokenizes the messages in one call.
    const rendered = await call('/apply-template', { messages: prompt.messages });
    if (typeof rendered?.['prompt'] === 'string') {
      return countText(call, prompt.model, rendered['prompt'], true);
    }
    const answer = await call('/tokenize', {
      model: prompt.model,
      messages: prompt.messages,
      add_generation_prompt: true,
    });
    return typeof answer?.['count'] === 'number' ? answer['count'] : null;
  }
  const pieces = promptPieces(prompt.prompt);
  if (pieces === null || pieces.length === 0) return null;
  const counts = await Promise.all(
    pieces.map((piece) => (typeof piece === 'string' ? countText(call, prompt.model, piece, true) : piece)),
  );
  return counts.includes(null) ? null : (counts as number[]).reduce((sum, n) => sum + n, 0);
}

/**
 * A completion's `prompt` as pieces: texts still to count and token counts known already (a token id is
 * one, an array of ids its length); null for an item that is neither, or for no prompt at all. One
 * prompt, several prompts, one as token ids or several as arrays of ids all come out alike.
 */
export function promptPieces(prompt: unknown): (string | number | null)[] | null {
  if (typeof prompt === 'string') return [prompt];
  if (!Array.isArray(prompt)) return null;
  return (prompt as unknown[]).map((item) =>
    typeof item === 'string' ? item : typeof item === 'number' ? 1 : Array.isArray(item) ? item.length : null,
  );
}

async function countText(call: Call, model: string, text: string, special: boolean): Promise<number | null> {
  const answer = await call('/tokenize', {
    model,
    prompt: text,
    add_special_tokens: special,
    content: text,
    add_special: special,
  });
  if (typeof answer?.['count'] === 'number') return answer['count'];
  return Array.isArray(answer?.['tokens']) ? answer['tokens'].length : null;
}

/** POSTs JSON to the instance; the parsed object of a 2xx answer, else null. */
async function postJson(
  instance: RouteInstance,
  path: string,
  body: unknown,
  signal: AbortSignal,
): Promise<Record<string, unknown> | null> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (instance.apiKey !== undefined) headers['authorization'] = `Bearer ${instance.apiKey}`;
  // undici's request on the gateway's own pools, not fetch: fetch refuses the ports browsers block
  // (6000, 6665–6669, …), where an external endpoint may listen.
  const response = await request(upstreamUrl(instance.url, path), {
    dispatcher: upstreamAgent,
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    signal,
  });
  if (response.statusCode < 200 || response.statusCode >= 300) {
    await response.body.dump();
    return null;
  }
  const parsed = (await response.body.json().catch(() => null)) as unknown;
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : null;
}
